"""Speed beside what users would run instead, on the same 640x480 JPEG frames, in one run, on this machine.

Per model (MobileNetV2 and VGG-Face16 at 224 px; the head fitted on synthetic faces, the backbone ImageNet
or random: the timing does not depend on the weights), one row per runtime of the same weights:

- ``torch_eager_float``: PyTorch eager on the CPU, as the research code runs it;
- ``litert_dynamic_int8``: LiteRT with dynamic-range int8 (int8 weights, float activations), as the paper
  shipped it (converted by onnx2tf + TFLiteConverter in a separate environment: ``--converter-python``);
- ``openvino_f32`` and ``openvino_int8_qdq`` (our int8 file read by OpenVINO): the CPU runtime many pick;
- ``onnxruntime_float`` and ``ours_onnxruntime_static_int8`` (what ``neopain export --int8 static`` makes).

Each row: file size; the classifier alone (one preprocessed crop, batch 1); end to end through the same
bedside path (decode + detect + crop + gates + classify, ``neopain.inference.Predictor``) for a camera
(consecutive frames of one face: the face followed) and for stills (unrelated frames: every quarter turn
looked at); agreement with PyTorch float (P(pain) and the label) and pain AUC on held-out synthetic faces.
``research_pipeline`` adds the whole path as a research script runs it: Pillow decode, OpenCV's YuNet on the
whole upright frame every frame, PyTorch eager. Ratios: ours over each peer (below 1: ours is faster).

    PYTHONPATH=src python bench/peers.py --out bench/peers.json [--models mobilenet_v2,vggface16]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import time
from pathlib import Path

import numpy as np
from _floor import gemm_gmacs, model_macs
from _peers_models import (
    Faces,
    Peer,
    camera_frames,
    convert_tflite,
    fitted_checkpoint,
    runtimes,
    scratch,
    synthetic_faces,
)
from _report import emit
from inference import calibration_crops, make_frames, percentiles

from neopain.evaluate import roc_auc
from neopain.export.cpu import cpu_summary
from neopain.export.quant import quantize
from neopain.export.to_onnx import export_checked
from neopain.faces import CropSettings, Face, choose_face, crop_with
from neopain.inference import Predictor
from neopain.inference.model import softmax
from neopain.pixels.preprocess import preprocess_batch

OURS = "ours_onnxruntime_static_int8"
DEFAULT_CONVERTER = Path(__file__).resolve().parent.parent / ".venv-peers" / "bin" / "python"


def time_calls(fn, inputs: list, warmup: int = 3) -> dict[str, float]:
    for item in inputs[:warmup]:
        fn(item)
    spent = []
    for item in inputs:
        started = time.perf_counter()
        fn(item)
        spent.append((time.perf_counter() - started) * 1000.0)
    return percentiles(spent)


def end_to_end(predictor: Predictor, frames: list[bytes], stream: str | None) -> dict[str, float]:
    """p50/p95 of the predictor's own total per frame; ``stream``: one camera, else every frame alone."""
    predictor.start_clip()
    totals = [predictor.assess_bytes(data, stream=stream).timings_ms["total"] for data in frames[:3] + frames]
    return percentiles(totals[3:])


def agreement(runtime, reference: np.ndarray, batch: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """P(pain) of ``runtime`` on held-out faces against PyTorch float's (``reference``), and its AUC."""
    pain = np.concatenate([softmax(runtime.logits(batch[i : i + 1]).astype(np.float64))[:, 1]
                           for i in range(len(batch))])
    return {"max_abs_p_diff": round(float(np.abs(pain - reference).max()), 4),
            "label_agreement": round(float(((pain >= 0.5) == (reference >= 0.5)).mean()), 4),
            "pain_auc": round(float(roc_auc(labels, pain)), 4)}


def research_pipeline(runtime, settings: CropSettings, config, frames: list[bytes]) -> dict[str, float]:
    """The whole path as a research script writes it: Pillow decode, OpenCV's own YuNet
    (``cv2.FaceDetectorYN``) on the whole upright frame every frame, the crop, PyTorch eager."""
    import cv2
    from PIL import Image

    from neopain.core.weights import resolve

    yunet = cv2.FaceDetectorYN.create(str(resolve("yunet")), "", (320, 320), 0.6, 0.3, 50)

    def one(data: bytes) -> None:
        image = cv2.cvtColor(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), cv2.COLOR_RGB2BGR)
        yunet.setInputSize((image.shape[1], image.shape[0]))
        rows = yunet.detect(image)[1]
        faces = [] if rows is None else [Face(*map(float, r[:4]), score=float(r[14]), landmarks=r[4:14]) for r in rows]
        face = choose_face(faces)
        if face is not None:
            runtime.logits(preprocess_batch([crop_with(image, face, settings)[0]], config))

    return time_calls(one, frames)


def size_mib(path: Path | None) -> float | None:
    return None if path is None else round(path.stat().st_size / 2**20, 2)


def bench_model(name: str, folder: Path, frames: dict[str, list[bytes]], faces: dict[str, Faces], args) -> dict:
    checkpoint, note = fitted_checkpoint(name, folder, faces["train"], args.seed)
    paths: dict[str, Path | None] = {"checkpoint": checkpoint}
    paths["float"] = export_checked(checkpoint, folder / f"{name}.onnx", seed=args.seed).path
    crops = calibration_crops(frames["stills"], CropSettings(size=args.input_size))
    paths["int8"] = quantize(paths["float"], folder / f"{name}.int8.onnx", "static", calibration_crops=crops,
                             seed=args.seed)
    paths["tflite"], litert_note = convert_tflite(paths["float"], folder / f"{name}.tflite", args.converter_python)
    found = runtimes(paths, args.threads)
    sizes = {"torch_eager_float": size_mib(checkpoint), "onnxruntime_float": size_mib(paths["float"]),
             OURS: size_mib(paths["int8"]), "litert_dynamic_int8": size_mib(paths["tflite"]),
             "openvino_f32": size_mib(paths["float"]), "openvino_int8_qdq": size_mib(paths["int8"])}
    base = Predictor.from_files(paths["int8"], threads=args.threads, rotations="follow")
    held = faces["test"]
    batch = preprocess_batch(held.crops, base.config)
    reference = found["torch_eager_float"]
    ref_pain = np.concatenate([softmax(reference.logits(batch[i : i + 1]).astype(np.float64))[:, 1]
                               for i in range(len(batch))])
    one_crop = [batch[i : i + 1] for i in range(min(len(batch), args.classify_calls))]
    rows: dict[str, dict] = {}
    for row, runtime in found.items():
        if isinstance(runtime, str):
            rows[row] = {"skipped": runtime}
            continue
        predictor = Predictor(Peer(paths["int8"], runtime), base.detector, base.crop_settings)
        rows[row] = {
            "size_mib": sizes[row],
            "classify_ms": time_calls(runtime.logits, one_crop),
            "camera_end_to_end_ms": end_to_end(predictor, frames["camera"], stream="camera"),
            "stills_end_to_end_ms": end_to_end(predictor, frames["stills"], stream=None),
            **agreement(runtime, ref_pain, batch, held.labels),
        }
        if hasattr(runtime, "runtime_precisions"):  # OpenVINO: how many weighted layers run in each precision
            rows[row]["layer_precisions"] = runtime.runtime_precisions()
    if "litert_dynamic_int8" in rows:
        rows["litert_dynamic_int8"]["converter"] = litert_note
    rows["research_pipeline"] = {"what": "Pillow decode + YuNet on the whole upright frame + crop + PyTorch eager",
                                 "end_to_end_ms": research_pipeline(reference, base.crop_settings, base.config,
                                                                    frames["camera"])}
    macs = model_macs(reference.model, args.input_size)
    floor = {"gmacs": round(macs / 1e9, 3),
             **{f"classify_floor_ms_{kind}": round(macs / (args.gemm[kind] * 1e9) * 1000, 2)
                for kind in ("int8_u8s8", "float32")}}
    return {"weights": note, "input_size": args.input_size, "rows": rows, "ours_over_peer": ratios(rows),
            "floor": floor}


def ratios(rows: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Ours divided by each peer: size, classifier p50, camera and stills end-to-end p50."""
    ours = rows[OURS]
    out: dict[str, dict[str, float]] = {}
    for row, values in rows.items():
        if row == OURS or "skipped" in values:
            continue
        if row == "research_pipeline":
            out[row] = {"camera_end_to_end_p50": round(ours["camera_end_to_end_ms"]["p50"]
                                                       / values["end_to_end_ms"]["p50"], 3)}
            continue
        out[row] = {"size": round(ours["size_mib"] / values["size_mib"], 3),
                    "classify_p50": round(ours["classify_ms"]["p50"] / values["classify_ms"]["p50"], 3),
                    **{f"{kind}_end_to_end_p50": round(ours[f"{kind}_end_to_end_ms"]["p50"]
                                                       / values[f"{kind}_end_to_end_ms"]["p50"], 3)
                       for kind in ("camera", "stills")}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,vggface16")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=40, help="camera frames, and as many stills")
    parser.add_argument("--classify-calls", type=int, default=40)
    parser.add_argument("--subjects", type=int, default=6, help="synthetic babies each for the head and the test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--converter-python", type=Path,
                        default=Path(os.environ.get("NEOPAIN_TFLITE_PYTHON") or DEFAULT_CONVERTER),
                        help="the Python of the environment with TensorFlow and onnx2tf (LiteRT conversion)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    args = parser.parse_args()
    frames = {"camera": camera_frames(args.frames, args.seed), "stills": make_frames(args.frames, args.seed)}
    args.gemm = gemm_gmacs(args.threads)
    report = {
        "what": "one 640x480 JPEG frame at a time, batch 1; every runtime on the same frames and crops",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "cpu": cpu_summary(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "threads": args.threads, "frames": args.frames,
        "gemm_gmacs_per_s": args.gemm, "floor": "a model's multiply-accumulates at ONNX Runtime's own 1024^3 "
        "GEMM rate on this CPU: what the arithmetic alone costs (real layers are smaller and run slower)",
        "models": {},
    }
    with scratch() as tmp:
        folder = Path(tmp)
        faces = {"train": synthetic_faces(folder, args.subjects, args.seed + 7000, args.input_size),
                 "test": synthetic_faces(folder, args.subjects, args.seed + 8000, args.input_size)}
        report["faces"] = {"head": len(faces["train"].crops), "held_out": len(faces["test"].crops),
                           "data": "synthetic benchmark babies (seeds 7000+ / 8000+): pipeline check, no clinical claim"}
        for name in args.models.split(","):
            report["models"][name] = bench_model(name, folder, frames, faces, args)
    report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    emit(report, args.out)


if __name__ == "__main__":
    main()
