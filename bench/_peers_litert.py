"""LiteRT peer for bench/peers.py: our float ONNX -> dynamic-range int8 TFLite, and a runner for it.

Conversion (onnx2tf, TensorFlow, tf-keras) lives in the peers venv only, see bench/_peers_check.py; running
needs ``ai-edge-litert`` alone. onnx2tf makes the graph NHWC; ``LiteRTClassifier`` takes our NCHW batches.
Run as a script (``python bench/_peers_litert.py MODEL.onnx OUT.tflite [--float]``) to convert in a child process, so
TensorFlow's memory and threads are gone before anything is timed.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

SIGNATURE = "serving_default"
SAMPLE_SHAPE = (20, 128, 128, 3)  # what onnx2tf's own sample-image file holds


def _sample_images(seed: int = 0) -> Callable[[], np.ndarray]:
    """Stand-in for onnx2tf's sample images, which it would fetch from the network for its checks."""
    return lambda: np.random.default_rng(seed).random(SAMPLE_SHAPE, dtype=np.float32)


def to_keras(onnx_path: Path, work: Path) -> Any:
    """onnx2tf's tf_keras model of an ONNX file, batch fixed at 1 (NHWC inside); scratch files under ``work``."""
    import onnx2tf

    module = importlib.import_module("onnx2tf.onnx2tf")
    with mock.patch.object(module, "download_test_image_data", _sample_images()):
        return onnx2tf.convert(
            input_onnx_file_path=str(onnx_path), output_folder_path=str(work / "saved_model"), batch_size=1,
            disable_model_save=True, non_verbose=True, not_use_onnxsim=True,
            onnxruntime_output_memmap_dir=str(work / "ort_memmap"),
        )


def tflite_bytes(model: Any, dynamic: bool = True) -> bytes:
    """Dynamic-range int8 (int8 weights, float activations: Optimize.DEFAULT and no representative data),
    or plain float32 with ``dynamic=False``."""
    import tensorflow as tf

    run = tf.function(lambda *inputs: model(inputs),
                      input_signature=[tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([run.get_concrete_function()], model)
    if dynamic:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops: plain LiteRT runs it
    return converter.convert()


def to_tflite_dynamic(onnx_path: Path, out_path: Path, dynamic: bool = True) -> Path:
    """Convert one of our float ONNX classifiers to a dynamic-range int8 TFLite file at ``out_path``
    (float32 TFLite with ``dynamic=False``, for comparison)."""
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="neopain-litert-") as work:
        data = tflite_bytes(to_keras(onnx_path, Path(work)), dynamic)
    partial = out_path.with_name(out_path.name + ".part")
    partial.write_bytes(data)
    partial.replace(out_path)
    return out_path


def _output_order(name: str) -> tuple[int, str]:
    """Signature outputs are output_0, output_1, ... in the ONNX graph's output order."""
    tail = name.rsplit("_", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (sys.maxsize, name)


class LiteRTClassifier:
    """A converted classifier in LiteRT: ``outputs``/``logits`` of NCHW float32 batches, as ONNX Runtime's."""

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=max(1, int(threads)))
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs = runner.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: expected one input, found {sorted(inputs)}")
        detail = next(iter(inputs.values()))
        self.input_index = int(detail["index"])
        self.input_shape = tuple(int(d) for d in detail["shape"])
        self.nhwc = self.input_shape[-1] == 3 and self.input_shape[1] != 3
        outputs = runner.get_output_details()
        self.output_indices = [int(outputs[name]["index"]) for name in sorted(outputs, key=_output_order)]

    def _one(self, sample_nchw: np.ndarray) -> list[np.ndarray]:
        x = sample_nchw.transpose(0, 2, 3, 1) if self.nhwc else sample_nchw
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f"{self.path}: takes {self.input_shape} ({'NHWC' if self.nhwc else 'NCHW'}), "
                             f"got NCHW {tuple(sample_nchw.shape)}")
        self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(x, dtype=np.float32))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(i).copy() for i in self.output_indices]

    def outputs(self, batch_nchw: np.ndarray) -> list[np.ndarray]:
        """Every output of an N x 3 x S x S batch, in the ONNX file's output order (one sample at a time)."""
        rows = [self._one(batch_nchw[i : i + 1]) for i in range(len(batch_nchw))]
        return [np.concatenate(column) for column in zip(*rows, strict=True)]

    def logits(self, batch_nchw: np.ndarray) -> np.ndarray:
        """The first output (pain logits N x 2), as ``OnnxClassifier.logits``."""
        return self.outputs(batch_nchw)[0]


def main(argv: list[str]) -> int:
    """CLI: MODEL.onnx OUT.tflite [--float]."""
    dynamic = "--float" not in argv
    paths = [a for a in argv if a != "--float"]
    if len(paths) != 2:
        print("usage: python bench/_peers_litert.py MODEL.onnx OUT.tflite [--float]", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = to_tflite_dynamic(Path(paths[0]), Path(paths[1]), dynamic)
    print(f"{out} {out.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
