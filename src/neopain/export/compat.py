"""Rewrites that make a fixed-input-size model exportable to ONNX without changing its outputs.

ONNX has no adaptive pooling whose output size does not divide the input size (N-CNN pools its
branches to ``input_size // 10``). For a known input size, adaptive max/avg pooling is a fixed set of
windows, and both are separable: pool the rows' windows, then the columns'. ``exportable`` swaps such
layers for that slice-and-reduce form; the export parity check confirms the outputs did not change.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

_ADAPTIVE = (nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)


def _windows(size_in: int, size_out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: [floor(i*n/o), ceil((i+1)*n/o))."""
    return [(math.floor(i * size_in / size_out), math.ceil((i + 1) * size_in / size_out)) for i in range(size_out)]


class FixedAdaptivePool2d(nn.Module):
    """Adaptive max or average pooling for one known input H x W, as slices and reductions."""

    def __init__(self, kind: str, size_in: tuple[int, int], size_out: tuple[int, int]) -> None:
        super().__init__()
        self.kind = kind
        self.rows = _windows(size_in[0], size_out[0])
        self.cols = _windows(size_in[1], size_out[1])

    def _reduce(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        if self.kind == "max":
            return x.amax(dim=dim, keepdim=True)
        return x.mean(dim=dim, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self._reduce(x[:, :, a:b, :], 2) for a, b in self.rows], dim=2)
        return torch.cat([self._reduce(x[:, :, :, a:b], 3) for a, b in self.cols], dim=3)


def _pair(value: int | tuple[int | None, ...] | None, default: tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    value = tuple(value or (None, None))
    return (value[0] or default[0], value[1] or default[1])


def _input_shapes(model: nn.Module, size: int) -> dict[str, tuple[int, int]]:
    """H x W reaching every adaptive pooling layer for one input of ``size`` x ``size``."""
    shapes: dict[str, tuple[int, int]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, _ADAPTIVE):
            hooks.append(module.register_forward_pre_hook(
                lambda mod, args, name=name: shapes.__setitem__(name, tuple(args[0].shape[-2:]))))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def exportable(model: nn.Module, size: int) -> nn.Module:
    """A copy of ``model`` (eval mode) whose non-dividing adaptive pools are fixed-window equivalents."""
    model = copy.deepcopy(model).eval()
    for name, size_in in _input_shapes(model, size).items():
        module = model.get_submodule(name)
        size_out = _pair(module.output_size, size_in)
        if size_in[0] % size_out[0] == 0 and size_in[1] % size_out[1] == 0:
            continue  # the exporters handle these (a plain pooling with stride = kernel)
        kind = "max" if isinstance(module, nn.AdaptiveMaxPool2d) else "avg"
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, FixedAdaptivePool2d(kind, size_in, size_out))
    return model
