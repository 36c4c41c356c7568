"""End-to-end bedside latency: 640x480 JPEG bytes -> decode -> YuNet -> crop -> int8 classifier.

For each model (MobileNetV2 with its ImageNet backbone when the file is present, VGG-Face16 with
RANDOM weights: the timing and the size do not depend on the weight values) a checkpoint is built,
exported, parity-checked and quantised (static QDQ, calibrated on face crops of the benchmark
frames, not on training faces). Frames: skimage's astronaut at random scales, positions, brightness
and mirroring on a noisy 640x480 background. Prints and writes JSON.

    PYTHONPATH=src python bench/inference.py --out bench/inference.json
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from _report import emit

from neopain.export.quant import quantize
from neopain.export.to_onnx import export_checked
from neopain.faces import choose_face, create_detector
from neopain.faces.crop import CropSettings, crop_with
from neopain.inference.predictor import STAGES, Predictor


def make_frames(count: int, seed: int) -> list[bytes]:
    """JPEG (quality 90) 640x480 frames with one astronaut face in varied places and light."""
    rng = np.random.default_rng(seed)
    face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    frames = []
    for _ in range(count):
        scale = rng.uniform(0.6, 0.9)  # the 512 px photo must fit 480 px
        image = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        canvas = rng.normal(rng.uniform(60, 200), 12, size=(480, 640, 3)).clip(0, 255).astype(np.uint8)
        h, w = image.shape[:2]
        x, y = int(rng.integers(0, 640 - w + 1)), int(rng.integers(0, 480 - h + 1))
        canvas[y : y + h, x : x + w] = image
        canvas = (canvas.astype(np.float32) * rng.uniform(0.8, 1.2)).clip(0, 255).astype(np.uint8)
        frames.append(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return frames


def calibration_crops(frames: list[bytes], settings: CropSettings) -> list[np.ndarray]:
    detector = create_detector("yunet")
    crops = []
    for data in frames:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        face = choose_face(detector.detect(image))
        if face is not None:
            crops.append(crop_with(image, face, settings)[0])
    return crops


def build_checkpoint(name: str, folder: Path, seed: int) -> tuple[Path, str]:
    """A checkpoint saved by the training code's ``save_checkpoint``; returns (path, weights note)."""
    import torch

    from neopain.models import ModelError, create_model
    from neopain.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    try:
        model = create_model(name, pretrained=(name == "mobilenet_v2"))
        note = "ImageNet backbone, random head" if name == "mobilenet_v2" else "random"
    except ModelError:
        model = create_model(name, pretrained=False)
        note = "random (pretrained weights not on this machine)"
    model.eval()
    ckpt = {"model": model.state_dict(), "config": model.cfg.to_dict(), "optimizer": {}, "epoch": 0, "phase": 1,
            "history": [], "manifest_hash": "bench", "seed": seed}
    return save_checkpoint(folder / f"{name}.pt", ckpt), note


def percentiles(values: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "mean": round(float(np.mean(values)), 2)}


def end_to_end(model_path: Path, frames: list[bytes], threads: int, passes: int, warmup: int = 5) -> dict:
    predictor = Predictor.from_files(model_path, threads=threads)
    for data in frames[:warmup]:
        predictor.assess_bytes(data)
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    statuses: list[str] = []
    for _ in range(passes):
        for data in frames:
            result = predictor.assess_bytes(data)
            statuses.append(result.reason or "ok")
            for stage in STAGES:
                stages[stage].append(result.timings_ms[stage])
    return {
        "model_id": predictor.model_id,
        "size_mib": round(model_path.stat().st_size / 2**20, 2),
        "frames": len(statuses),
        "assessed": statuses.count("ok"),
        "no_assessment": {r: statuses.count(r) for r in sorted(set(statuses) - {"ok"})},
        "total_ms": percentiles(stages["total"]),
        "stage_p50_ms": {s: round(float(np.median(stages[s])), 2) for s in STAGES if s != "total"},
    }


def bench_model(name: str, folder: Path, frames: list[bytes], crops: list[np.ndarray], args) -> dict:
    checkpoint, note = build_checkpoint(name, folder, args.seed)
    started = time.perf_counter()
    exported = export_checked(checkpoint, folder / f"{name}.onnx", seed=args.seed)
    int8 = quantize(exported.path, folder / f"{name}.int8.onnx", "static", calibration_crops=crops, seed=args.seed)
    prepare_s = time.perf_counter() - started
    result = {"weights": note, "parity_max_abs_logit_diff": exported.max_abs_logit_diff,
              "export_and_quantise_s": round(prepare_s, 1), "int8": end_to_end(int8, frames, args.threads, args.passes)}
    if not args.skip_float:
        result["float"] = end_to_end(exported.path, frames, args.threads, args.passes)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,vggface16")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--passes", type=int, default=2, help="times each frame is assessed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-float", action="store_true", help="time the int8 models only")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    args = parser.parse_args()
    frames = make_frames(args.frames, args.seed)
    crops = calibration_crops(frames, CropSettings())
    report = {
        "what": "end-to-end latency per 640x480 JPEG frame: decode + detect (YuNet) + crop + classify, batch 1",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "threads": args.threads, "frames": args.frames, "passes": args.passes,
        "calibration": f"{len(crops)} face crops of the benchmark frames (timing only: not training faces)",
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="neopain-bench-") as tmp:
        for name in args.models.split(","):
            report["models"][name] = bench_model(name, Path(tmp), frames, crops, args)
    report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    emit(report, args.out)


if __name__ == "__main__":
    main()
