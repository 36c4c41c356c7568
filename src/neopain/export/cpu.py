"""Which x86 int8 kernels ONNX Runtime can pick here: the CPU flags its kernel dispatch (MLAS) looks at.

An int8 file's numbers hold for the kernels they were measured on; the int8 metadata and Table II say
which, so a figure from a VNNI CPU is never read as one from an AVX2-only CPU.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

# The flags behind MLAS's choice of int8 GEMM / convolution kernel on x86-64 (others do not change it).
INT8_FLAGS = ("sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
              "amx_tile", "amx_int8")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """(model name, flags) of the first processor listed, or ("", empty) where there is no such file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "", set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def int8_path(flags: set[str]) -> str:
    """The family of int8 kernels the flags select: VNNI accumulates uint8 x int8 in int32 exactly;
    AVX2 (and AVX-512 without VNNI) add pairs of products in int16, saturating beyond +-32767."""
    if any(flag in flags for flag in VNNI_FLAGS):
        return "vnni"
    if "avx512bw" in flags:
        return "avx512-no-vnni"
    if "avx2" in flags:
        return "avx2-no-vnni"
    return "other"


def cpu_summary(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The machine, its int8-relevant flags and the kernel family, for metadata and Table II."""
    import onnxruntime as ort

    model, flags = _cpuinfo(cpuinfo)
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "flags": [f for f in INT8_FLAGS if f in flags],
        "int8_kernels": int8_path(flags),
        "onnxruntime": ort.__version__,
    }
