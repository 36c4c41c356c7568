"""What this CPU allows: ONNX Runtime's own GEMM throughput (int8 u8s8 and float32) on a large square
product, and a model's multiply-accumulates, so each classifier's time has a floor beside it."""

from __future__ import annotations

import time

import numpy as np


def _session(model):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _gemm_model(size: int, int8: bool):  # type: ignore[no-untyped-def]
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        weight = numpy_helper.from_array(rng.integers(-64, 64, (size, size), dtype=np.int8), "w")
        node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
        inputs, out_type = TensorProto.UINT8, TensorProto.INT32
    else:
        weight = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "w")
        node = helper.make_node("MatMul", ["a", "w"], ["y"])
        inputs, out_type = TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("a", inputs, [size, size])],
                              [helper.make_tensor_value_info("y", out_type, [size, size])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def gemm_gmacs(threads: int = 2, size: int = 1024, calls: int = 10) -> dict[str, float]:
    """Multiply-accumulates per second (G) of ORT's int8 and float32 GEMM on a size^3 product."""
    out: dict[str, float] = {}
    for name, int8 in (("int8_u8s8", True), ("float32", False)):
        session = _session(_gemm_model(size, int8))
        a = (np.random.default_rng(1).integers(0, 255, (size, size), dtype=np.uint8) if int8
             else np.random.default_rng(1).standard_normal((size, size)).astype(np.float32))
        session.run(None, {"a": a})
        spent = []
        for _ in range(calls):
            started = time.perf_counter()
            session.run(None, {"a": a})
            spent.append(time.perf_counter() - started)
        out[name] = round(size**3 / float(np.median(spent)) / 1e9, 1)
    out["threads"] = threads
    return out


def model_macs(model, input_size: int) -> int:  # type: ignore[no-untyped-def]
    """Multiply-accumulates of one forward pass of a torch model (convolutions and linear layers)."""
    import torch

    total = 0

    def count(module, _inputs, output) -> None:  # type: ignore[no-untyped-def]
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, input_size, input_size))
    for hook in hooks:
        hook.remove()
    return total
