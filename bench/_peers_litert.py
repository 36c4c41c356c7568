"""LiteRT peer for bench/peers.py: a runner for the TFLite files ``neopain.export.to_tflite`` makes.

Needs ``ai-edge-litert`` alone (the conversion runs in the converter's environment). onnx2tf makes the
graph NHWC; ``LiteRTClassifier`` takes our NCHW batches and gives the outputs in the ONNX file's order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIGNATURE = "serving_default"


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
