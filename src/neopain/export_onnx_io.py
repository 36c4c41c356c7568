"""ONNX file plumbing shared by export and quantisation (torch-free): metadata, atomic save, compaction."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neopain.atomic import atomic_path
from neopain.inference_model import ModelFileError, parse_metadata


def load_model(path: str | Path):
    """The ModelProto of an ONNX file, or ModelFileError naming it."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFileError(f"{path}: not a readable ONNX model ({exc})") from exc


def read_metadata(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def neopain_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of one of our ONNX files, validated (ModelFileError if it is not ours)."""
    meta = read_metadata(load_model(path))
    parse_metadata(meta, Path(path))
    return meta


def set_metadata(model, metadata: Mapping[str, str]) -> None:
    """Replace metadata_props with ``metadata`` (sorted keys, so files are reproducible)."""
    del model.metadata_props[:]
    for key in sorted(metadata):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(metadata[key])


def save_atomic(model, out_path: str | Path) -> Path:
    """Write a ModelProto to a temp file beside ``out_path``, then rename (no half-written model files)."""
    import onnx

    with atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))
    return Path(out_path)


def temp_path(folder: Path, suffix: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=".neopain-", suffix=suffix, dir=folder)
    os.close(fd)
    return Path(tmp)


def strip_zero_points(model) -> int:
    """Drop all-zero integer zero points of DequantizeLinear on constants (the default is 0 anyway).

    The static quantiser writes an int32 zero point for every quantised bias and an int8 one per weight
    channel; both are always zero (symmetric), and they are a noticeable share of a small int8 model.
    """
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    removed = 0
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) != 3:
            continue
        if node.input[0] not in inits or node.input[2] not in inits:
            continue
        zero_point = numpy_helper.to_array(inits[node.input[2]])
        if zero_point.dtype in (np.int8, np.int32) and not zero_point.any():
            del node.input[2]
            removed += 1
    used = {name for node in model.graph.node for name in node.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return removed


def shorten_names(model) -> None:
    """Rename internal tensors and nodes to short ids (graph inputs/outputs keep their names).

    Quantisation derives long names ("backbone.0.features.3.conv.1.0.weight_quantized_scale") that are
    repeated in every node using them; in a 3 MiB model they weigh about 0.1 MiB.
    """
    graph = model.graph
    keep = {v.name for v in list(graph.input) + list(graph.output)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names):x}")

    for init in graph.initializer:
        init.name = short(init.name)
    for k, node in enumerate(graph.node):
        node.name = f"n{k:x}"
        for j, name in enumerate(node.input):
            node.input[j] = short(name)
        for j, name in enumerate(node.output):
            node.output[j] = short(name)
    del graph.value_info[:]  # shape annotations: ORT infers them again on load


def compact(model) -> None:
    """Size-only rewrites that leave every output bit-identical (a test checks it)."""
    strip_zero_points(model)
    shorten_names(model)

