"""Check of the two foreign runtimes for bench/peers.py (issue 20): does each load our classifier and agree?

MobileNetV2 at 224 is exported as serving does (checkpoint -> ``export_checked``), quantised to our static-int8
QDQ file, converted to a dynamic-range int8 TFLite file, then run by ONNX Runtime (float, int8), LiteRT and
OpenVINO (float, and the QDQ file). Prints one JSON object: versions, sizes, max |output diff| against ONNX
Runtime float on random preprocessed crops, and a rough batch-1 latency (median of a few calls). VGG-Face16
(~500 MB float) is only converted: size, time, peak memory. Needs the peers venv (see the report of issue 20):

    /work/main/.venv-peers/bin/python bench/_peers_check.py [--skip-vgg] [--nfcs] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from _peers_litert import LiteRTClassifier
from _peers_openvino import OpenVinoClassifier

from neopain.inference import OnnxClassifier
from neopain.preprocess import preprocess_batch

LITERT_SCRIPT = Path(__file__).with_name("_peers_litert.py")
PACKAGES = ("torch", "onnx", "onnxruntime", "numpy", "tensorflow-cpu", "tf-keras", "onnx2tf", "ai-edge-litert",
            "openvino")
Outputs = list[np.ndarray]


def versions() -> dict[str, str]:
    """Installed versions of the packages this check depends on."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def build_onnx(name: str, folder: Path, seed: int, pretrained: bool, nfcs: bool = False) -> tuple[Path, str]:
    """A float ONNX file exported from a saved checkpoint, as ``bench/inference.py`` builds one."""
    import torch

    from neopain.export.to_onnx import export_checked
    from neopain.models import ModelError, create_model
    from neopain.nfcs import ACTIONS, DEFAULT_VERSION
    from neopain.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    model, note = None, "random"
    if pretrained:
        try:
            model, note = create_model(name, pretrained=True), "ImageNet backbone, random head"
        except ModelError:
            note = "random (pretrained weights not on this machine)"
    model = model or create_model(name, pretrained=False)
    if nfcs:
        model.add_nfcs_head(ACTIONS, DEFAULT_VERSION)
    stem = f"{name}{'-nfcs' if nfcs else ''}"
    ckpt = {"model": model.eval().state_dict(), "config": model.cfg.to_dict(), "optimizer": {}, "epoch": 0,
            "phase": 1, "history": [], "manifest_hash": "bench", "seed": seed}
    checkpoint = save_checkpoint(folder / f"{stem}.pt", ckpt)
    path = export_checked(checkpoint, folder / f"{stem}.onnx", seed=seed).path
    checkpoint.unlink()
    return path, note


def random_crops(count: int, size: int, seed: int) -> list[np.ndarray]:
    """Seeded random BGR uint8 crops (calibration and test inputs; no faces are needed to compare runtimes)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(count)]


def test_batch(onnx_path: Path, count: int, seed: int) -> np.ndarray:
    """Random crops preprocessed with the file's own config, as serving feeds the model."""
    cfg = OnnxClassifier(onnx_path, threads=1).config
    return preprocess_batch(random_crops(count, cfg.input_size, seed), cfg)


def convert_tflite(onnx_path: Path, out_path: Path, timeout_s: float, dynamic: bool = True) -> dict[str, Any]:
    """Run the conversion in a child process (TensorFlow gone afterwards): seconds, peak memory, outcome."""
    started = time.perf_counter()
    command = [sys.executable, str(LITERT_SCRIPT), str(onnx_path), str(out_path)] + ([] if dynamic else ["--float"])
    try:
        done = subprocess.run(command,
                              check=False, capture_output=True, text=True, timeout=timeout_s)
        ok, error = done.returncode == 0, _last_error(done.stderr) if done.returncode else None
    except subprocess.TimeoutExpired:
        ok, error = False, f"timed out after {timeout_s:.0f} s"
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far, MiB
    result: dict[str, Any] = {"converted": ok and out_path.is_file(), "seconds": round(time.perf_counter() - started, 1),
                              "peak_rss_mib_largest_child": round(peak)}
    if error:
        result["error"] = error
    return result


def _last_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "Error" in line or "error" in line]
    return (lines[-1] if lines else stderr.strip().splitlines()[-1] if stderr.strip() else "failed")[:300]


def size_mib(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 2)


def agreement(reference: Outputs, got: Outputs) -> dict[str, Any]:
    """Max |diff| per output, that relative to the largest |reference| value, and argmax agreement of output 0."""
    diffs = [float(np.abs(r - g).max()) for r, g in zip(reference, got, strict=True)]
    scale = [max(float(np.abs(r).max()), 1e-12) for r in reference]
    same = float(np.mean(reference[0].argmax(axis=1) == got[0].argmax(axis=1)))
    return {"max_abs_diff": [f"{d:.3g}" for d in diffs], "max_rel_diff": [f"{d / s:.3g}" for d, s in zip(diffs, scale)],
            "argmax_agree": same}


def median_ms(run: Callable[[np.ndarray], Any], sample: np.ndarray, calls: int, warmup: int = 3) -> float:
    """Median wall time of ``calls`` batch-1 calls after ``warmup`` untimed ones, in ms."""
    for _ in range(warmup):
        run(sample)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        run(sample)
        times.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(times)), 2)


def ort_outputs(classifier: OnnxClassifier, batch: np.ndarray) -> Outputs:
    values = classifier.outputs(batch)
    return [values[name] for name in classifier.config.outputs]


def peer_rows(peers: dict[str, Callable[[], Any]], batch: np.ndarray, reference: Outputs,
              calls: int) -> dict[str, dict[str, Any]]:
    """Build each runtime in turn, compare its outputs with ``reference`` and time batch-1 calls."""
    rows = {}
    for name, build in peers.items():
        try:
            started = time.perf_counter()
            runner = build()
            row: dict[str, Any] = {"load_s": round(time.perf_counter() - started, 2)}
            got = ort_outputs(runner, batch) if isinstance(runner, OnnxClassifier) else runner.outputs(batch)
            row.update(agreement(reference, got))
            row["median_ms_batch1"] = median_ms(runner.logits, batch[:1], calls)
            if isinstance(runner, OpenVinoClassifier):
                row["weighted_layer_precisions"] = runner.runtime_precisions()
        except Exception as exc:  # noqa: BLE001 -- a peer that fails is a finding, not a crash of the check
            row = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
        rows[name] = row
    return rows


def check_mobilenet(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The full comparison on MobileNetV2."""
    from neopain.export.quant import quantize

    onnx_path, note = build_onnx("mobilenet_v2", work, args.seed, pretrained=not args.random)
    cfg = OnnxClassifier(onnx_path, threads=1).config
    int8 = quantize(onnx_path, work / "mobilenet_v2.int8.onnx", "static",
                    calibration_crops=random_crops(32, cfg.input_size, args.seed + 7), seed=args.seed)
    tflite, tflite_float = work / "mobilenet_v2.dynamic.tflite", work / "mobilenet_v2.float.tflite"
    conversion = convert_tflite(onnx_path, tflite, args.timeout)
    convert_tflite(onnx_path, tflite_float, args.timeout, dynamic=False)
    batch = test_batch(onnx_path, args.inputs, args.seed + 1)
    t = args.threads
    ort_float = OnnxClassifier(onnx_path, threads=t)
    reference = ort_outputs(ort_float, batch)
    peers: dict[str, Callable[[], Any]] = {
        "ort_float": lambda: ort_float,
        "litert_dynamic_int8": lambda: LiteRTClassifier(tflite, threads=t),
        "litert_float": lambda: LiteRTClassifier(tflite_float, threads=t),
        "openvino_f32": lambda: OpenVinoClassifier(onnx_path, threads=t),
        "openvino_f32_static_batch1": lambda: OpenVinoClassifier(onnx_path, threads=t, static_batch=1),
        "ort_static_int8": lambda: OnnxClassifier(int8, threads=t),
        "openvino_static_int8_qdq": lambda: OpenVinoClassifier(int8, threads=t),
    }
    rows = peer_rows(peers, batch, reference, args.calls)
    int8_reference = ort_outputs(OnnxClassifier(int8, threads=t), batch)
    if "error" not in rows["openvino_static_int8_qdq"]:
        rows["openvino_static_int8_qdq"]["vs_ort_static_int8"] = agreement(
            int8_reference, OpenVinoClassifier(int8, threads=t).outputs(batch))
    return {"weights": note, "input_size": cfg.input_size, "test_inputs": len(batch), "threads": t,
            "sizes_mib": {"onnx_float": size_mib(onnx_path), "onnx_static_int8": size_mib(int8),
                          "tflite_dynamic_int8": size_mib(tflite) if tflite.is_file() else None,
                          "tflite_float": size_mib(tflite_float) if tflite_float.is_file() else None},
            "tflite_conversion": conversion, "runtimes": rows}


def check_conversion_only(name: str, work: Path, args: argparse.Namespace, pretrained: bool,
                          nfcs: bool = False) -> dict[str, Any]:
    """Export and convert one model; if it converts, compare LiteRT with ONNX Runtime on a few inputs."""
    started = time.perf_counter()
    onnx_path, note = build_onnx(name, work, args.seed, pretrained=pretrained, nfcs=nfcs)
    result: dict[str, Any] = {"weights": note, "export_s": round(time.perf_counter() - started, 1),
                              "onnx_float_mib": size_mib(onnx_path)}
    tflite = onnx_path.with_suffix(".dynamic.tflite")
    result["tflite_conversion"] = convert_tflite(onnx_path, tflite, args.timeout)
    if tflite.is_file():
        result["tflite_dynamic_int8_mib"] = size_mib(tflite)
        batch = test_batch(onnx_path, 3, args.seed + 1)
        reference = ort_outputs(OnnxClassifier(onnx_path, threads=args.threads), batch)
        result["litert_vs_ort_float"] = agreement(reference, LiteRTClassifier(tflite, args.threads).outputs(batch))
    return result


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="keep the model files here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=20, help="timed batch-1 calls per runtime")
    parser.add_argument("--inputs", type=int, default=20, help="random preprocessed crops for the agreement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one TFLite conversion")
    parser.add_argument("--random", action="store_true", help="random MobileNetV2 too (its logits are then ~1e-10)")
    parser.add_argument("--skip-vgg", action="store_true", help="skip the VGG-Face16 conversion")
    parser.add_argument("--nfcs", action="store_true", help="also convert a three-output (NFCS head) MobileNetV2")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="neopain-peers-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {"versions": versions(), "mobilenet_v2": check_mobilenet(work, args)}
        if args.nfcs:
            report["mobilenet_v2_nfcs"] = check_conversion_only("mobilenet_v2", work, args, not args.random, nfcs=True)
        if not args.skip_vgg:
            report["vggface16"] = check_conversion_only("vggface16", work, args, pretrained=False)
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
