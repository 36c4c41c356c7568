"""OpenVINO peer for bench/peers.py: our ONNX files (float, or the static-int8 QDQ one) on OpenVINO's CPU plugin.

OpenVINO reads ONNX directly; a QDQ file is run with int8 kernels (its low-precision transformations fold
the QuantizeLinear/DequantizeLinear pairs), ``precision`` then only sets what the remaining float ops use.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

INPUT_NAME = "input"
PRECISIONS = ("f32", "bf16", "f16")  # CPU inference precision hint; an AVX2-only CPU runs f32 whatever is asked
WEIGHTED_OPS = ("Convolution", "FullyConnected", "MatMul", "GroupConvolution")


def compile_config(threads: int, precision: str) -> dict[str, Any]:
    """The CPU plugin settings: ``threads`` threads, one stream, latency-first, the given precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    return {"INFERENCE_NUM_THREADS": max(1, int(threads)), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision}


class OpenVinoClassifier:
    """An ONNX classifier compiled for OpenVINO's CPU plugin: ``outputs``/``logits`` as ONNX Runtime's."""

    def __init__(self, onnx_path: str | Path, threads: int = 2, precision: str = "f32",
                 static_batch: int | None = None) -> None:
        import openvino as ov

        self.path = Path(onnx_path)
        self.static_batch = static_batch
        core = ov.Core()
        model = core.read_model(str(self.path))
        if static_batch is not None:  # fix the dynamic batch axis (else OpenVINO keeps it dynamic)
            shape = model.input(INPUT_NAME).get_partial_shape()
            shape[0] = int(static_batch)
            model.reshape({INPUT_NAME: shape})
        self.compiled = core.compile_model(model, "CPU", compile_config(threads, precision))
        self.request = self.compiled.create_infer_request()
        self.output_ports = list(self.compiled.outputs)

    def _run(self, batch_nchw: np.ndarray) -> list[np.ndarray]:
        results = self.request.infer({INPUT_NAME: np.ascontiguousarray(batch_nchw, dtype=np.float32)})
        return [np.array(results[port], copy=True) for port in self.output_ports]

    def outputs(self, batch_nchw: np.ndarray) -> list[np.ndarray]:
        """Every output of a preprocessed N x 3 x S x S float32 batch, in the ONNX file's output order
        (in chunks of ``static_batch`` when the batch axis was fixed)."""
        step = self.static_batch
        if step is None or len(batch_nchw) == step:
            return self._run(batch_nchw)
        if len(batch_nchw) % step:
            raise ValueError(f"{self.path}: compiled for batches of {step}, got {len(batch_nchw)}")
        chunks = [self._run(batch_nchw[i : i + step]) for i in range(0, len(batch_nchw), step)]
        return [np.concatenate(column) for column in zip(*chunks, strict=True)]

    def logits(self, batch_nchw: np.ndarray) -> np.ndarray:
        """The first output (pain logits N x 2), as ``OnnxClassifier.logits``."""
        return self.outputs(batch_nchw)[0]

    def runtime_precisions(self) -> dict[str, int]:
        """How many weighted layers (conv, fully connected) of the compiled graph run in each precision."""
        counts: Counter[str] = Counter()
        for op in self.compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "layerType" in info and info["layerType"].astype(str) in WEIGHTED_OPS:
                counts[info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"] += 1
        return dict(counts)
