"""The paper's format for a phone: our float ONNX classifier -> LiteRT (TFLite), dynamic-range int8.

Dynamic range (int8 weights, float activations: ``Optimize.DEFAULT`` without calibration data) is what
the paper shipped (160 MB -> 26 MB for VGG-Face). TensorFlow and onnx2tf cannot share our environment
(onnx2tf 1.29 pins numpy 1.x and onnx 1.19; TensorFlow 2.21 wants h5py < 3.15), so the conversion runs in
a separate Python named by ``NEOPAIN_TFLITE_PYTHON`` (docs/PERFORMANCE.md shows how to make one) as
``python -m neopain.export.tflite IN.onnx OUT.tflite``: ``to_tflite`` is our side, ``convert`` theirs.

A TFLite file has no room for our metadata, so ``OUT.tflite.json`` beside it carries it (the model
config, the crop, the card, whether it is synthetic): what an app needs to cut and scale faces as
training did. Inputs become NHWC (onnx2tf's layout); outputs keep the ONNX order.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from neopain.core.atomic import atomic_write_bytes

ENV_PYTHON = "NEOPAIN_TFLITE_PYTHON"
SAMPLE_SHAPE = (20, 128, 128, 3)  # what onnx2tf's own sample-image file holds


class TfliteError(RuntimeError):
    """The conversion cannot run or failed; the message says why and what to do."""


def converter_python(given: str | Path | None = None) -> Path:
    """The converter environment's Python: ``given``, else ``NEOPAIN_TFLITE_PYTHON``."""
    value = given or os.environ.get(ENV_PYTHON)
    if not value:
        raise TfliteError(f"no TFLite converter: set {ENV_PYTHON} to the Python of an environment with "
                          "tensorflow-cpu, tf-keras and onnx2tf 1.29.16 (docs/PERFORMANCE.md, 'LiteRT')")
    path = Path(value)
    if not path.is_file():
        raise TfliteError(f"{ENV_PYTHON}={path}: no such Python")
    return path


def sidecar(tflite_path: Path) -> Path:
    return tflite_path.with_name(tflite_path.name + ".json")


def onnx_metadata(onnx_path: Path) -> dict[str, str]:
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}


def to_tflite(onnx_path: str | Path, out_path: str | Path, python: str | Path | None = None) -> Path:
    """Convert in the converter environment, then write the metadata beside the file; nothing is left at
    ``out_path`` on failure."""
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    exe = converter_python(python)
    done = subprocess.run([str(exe), "-m", "neopain.export.tflite", str(onnx_path), str(out_path)],
                          check=False, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0 or not out_path.is_file():
        out_path.unlink(missing_ok=True)
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise TfliteError(f"{onnx_path}: TFLite conversion failed ({lines[-1][:300] if lines else 'no output'})")
    meta = {"format": "tflite dynamic-range int8 (weights int8, activations float32)", "input_layout": "NHWC",
            "onnx_source": onnx_path.name, "metadata": onnx_metadata(onnx_path)}
    atomic_write_bytes(sidecar(out_path), (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    return out_path


# --- the converter environment's side -------------------------------------------------------------


def _sample_images(seed: int = 0) -> Any:
    """Stands in for onnx2tf's check images, which it would otherwise fetch from the network."""
    return lambda: np.random.default_rng(seed).random(SAMPLE_SHAPE, dtype=np.float32)


def to_keras(onnx_path: Path, work: Path) -> Any:
    """onnx2tf's tf_keras model of an ONNX file, batch fixed at 1 (NHWC inside); scratch under ``work``."""
    import onnx2tf

    module = importlib.import_module("onnx2tf.onnx2tf")
    with mock.patch.object(module, "download_test_image_data", _sample_images()):
        return onnx2tf.convert(
            input_onnx_file_path=str(onnx_path), output_folder_path=str(work / "saved_model"), batch_size=1,
            disable_model_save=True, non_verbose=True, not_use_onnxsim=True,
            onnxruntime_output_memmap_dir=str(work / "ort_memmap"),
        )


def tflite_bytes(model: Any, dynamic: bool = True) -> bytes:
    """The TFLite flatbuffer of a Keras model: dynamic-range int8 (``Optimize.DEFAULT``, no calibration
    data), or float32; builtin ops only, so plain LiteRT runs it."""
    import tensorflow as tf

    run = tf.function(lambda *inputs: model(inputs),
                      input_signature=[tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([run.get_concrete_function()], model)
    if dynamic:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def convert(onnx_path: Path, out_path: Path, dynamic: bool = True) -> Path:
    """ONNX -> TFLite at ``out_path`` (written whole or not at all)."""
    with tempfile.TemporaryDirectory(prefix="neopain-tflite-") as work:
        data = tflite_bytes(to_keras(Path(onnx_path), Path(work)), dynamic)
    return atomic_write_bytes(Path(out_path), data)


def main(argv: list[str]) -> int:
    """In the converter environment: IN.onnx OUT.tflite [--float]."""
    paths = [a for a in argv if a != "--float"]
    if len(paths) != 2:
        print("usage: python -m neopain.export.tflite IN.onnx OUT.tflite [--float]", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = convert(Path(paths[0]), Path(paths[1]), dynamic="--float" not in argv)
    print(f"{out} {out.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
