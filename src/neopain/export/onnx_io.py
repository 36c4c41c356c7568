"""ONNX file plumbing shared by export and quantisation (torch-free): metadata, atomic save, checked
compaction, running a model on a batch."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neopain.core.atomic import atomic_path
from neopain.core.log import get_logger
from neopain.inference import ModelFileError, parse_metadata

log = get_logger(__name__)


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


def logits(model_bytes: bytes, batch: np.ndarray, fused: bool = True, chunk: int = 8) -> np.ndarray:
    """Logits of an ONNX model on ``batch`` (in chunks); ``fused=False`` runs it without graph
    optimisations, so a QDQ model is computed as its definition says (dequantise, float operator,
    quantise) with no int8 kernel of this CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not fused:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: batch[i : i + chunk]})[0] for i in range(0, len(batch), chunk)])


def probe_batch(cfg, seed: int, count: int = 8) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Seeded random inputs of the model's shape, for checks when no face crops are at hand."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 3, cfg.input_size, cfg.input_size)).astype(np.float32)


# A rename changes no arithmetic. The bound still leaves room for ONNX Runtime choosing another (equally
# valid) order of float operations for the renamed graph, and sits far below one int8 step of a logit.
COMPACT_TOLERANCE = 1e-5


def compact_checked(model, batch: np.ndarray):  # type: ignore[no-untyped-def]
    """The model with short names when its logits on ``batch`` stay within COMPACT_TOLERANCE of the
    original's on this CPU; otherwise the original, unchanged (size never outranks correctness).

    Dropping all-zero zero points, once done here too, is not: ORT fuses a Gemm into its int8 QGemm only
    when the weight's zero point is given, so that rewrite changed which kernels run (docs/EXPORT.md).
    """
    import copy

    small = copy.deepcopy(model)
    shorten_names(small)
    before = logits(model.SerializeToString(), batch)
    after = logits(small.SerializeToString(), batch)
    gap = float(np.abs(before - after).max())
    if gap > COMPACT_TOLERANCE:
        log.warning("short names changed the logits by %.3g on this CPU: the file keeps its long names", gap)
        return model
    return small
