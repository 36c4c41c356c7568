"""An exported classifier read back with ONNX Runtime: session, metadata (config, id, card) and P(pain).

Torch-free. The metadata keys are written by ``neopain.export.to_onnx`` and are the only contract between the
two: the preprocessing config travels inside the model file, so serving cannot drift from training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.onnx_sessions import session_options
from neopain.pixels.preprocess import ConfigError, ModelConfig, preprocess_batch

META_CONFIG = "neopain.config"
META_MODEL_ID = "neopain.model_id"
META_CARD = "neopain.card"
META_SYNTHETIC = "neopain.synthetic"
META_CROP = "neopain.crop"  # CropSettings of the training faces, as JSON (optional)
META_QUANTIZATION = "neopain.quantization"  # "none", "static", "dynamic-gemm", "dynamic"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
META_CONDITIONS = "neopain.conditions"  # the ward's conditions in the training pictures (JSON list)
META_OUTPUTS = "neopain.outputs"  # the outputs, and for an NFCS model its actions and version (JSON)
# A federated model's record (sites, rounds, faces per site, strategy, privacy; JSON, never a site's data).
META_FEDERATION = "neopain.federation"


class ModelFileError(ValueError):
    """A model file is missing, is not ONNX, or is not a neopain classifier; the message names the file."""


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def open_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session, or ModelFileError naming the file."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types for a bad file
        raise ModelFileError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:200]})") from exc


def parse_metadata(meta: Mapping[str, str], path: Path) -> tuple[ModelConfig, str, dict[str, Any] | None, bool]:
    """(config, model id, card or None, synthetic) from an ONNX file's metadata_props."""
    if META_CONFIG not in meta:
        raise ModelFileError(
            f"{path}: not a neopain model (no '{META_CONFIG}' metadata); export it with `neopain export`"
        )
    try:
        config = ModelConfig.from_json(meta[META_CONFIG])
    except (ConfigError, TypeError) as exc:
        raise ModelFileError(f"{path}: bad '{META_CONFIG}' metadata ({exc})") from exc
    card = None
    if meta.get(META_CARD):
        try:
            card = json.loads(meta[META_CARD])
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: bad '{META_CARD}' metadata ({exc})") from exc
    model_id = meta.get(META_MODEL_ID) or f"{config.name}-{path.stem}"
    synthetic = meta.get(META_SYNTHETIC, "false").strip().lower() == "true"
    return config, model_id, card, synthetic


def outputs_summary(config: ModelConfig) -> dict[str, Any]:
    """The ``neopain.outputs`` metadata: output names, and the NFCS actions and version if any."""
    summary: dict[str, Any] = {"outputs": list(config.outputs)}
    if config.actions:
        summary.update(actions=list(config.actions), nfcs_version=config.nfcs_version)
    if config.visible:
        summary.update(visible=list(config.visible))
    return summary


class OnnxClassifier:
    """A neopain ONNX classifier: ``probabilities(crops)`` gives P(pain) with the file's own preprocessing."""

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        self.path = Path(path)
        self.session = open_session(self.path, threads)
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.config, self.model_id, self.card, self.synthetic = parse_metadata(self.metadata, self.path)
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != [INPUT_NAME]:
            raise ModelFileError(f"{self.path}: expected one input named '{INPUT_NAME}', found {inputs}")
        self.pain_index = self.config.labels.index("pain") if "pain" in self.config.labels else 1
        found = tuple(o.name for o in self.session.get_outputs())
        if found[: len(self.config.outputs)] != self.config.outputs:
            raise ModelFileError(f"{self.path}: its config promises outputs {list(self.config.outputs)}, "
                                 f"the graph has {list(found)}")

    @property
    def conditions(self) -> tuple[str, ...]:
        """The ward's conditions its training pictures showed (the gate lets it read through those)."""
        try:
            found = json.loads(self.metadata.get(META_CONDITIONS) or "[]")
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{self.path}: bad '{META_CONDITIONS}' metadata ({exc})") from exc
        return tuple(str(c) for c in found)

    @property
    def has_actions(self) -> bool:
        return bool(self.config.actions)

    @property
    def has_visibility(self) -> bool:
        """Whether the model reads which NFCS regions show (``--targets ...,visible``)."""
        return bool(self.config.visible)

    def outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of a preprocessed batch by name (``ModelConfig.outputs``)."""
        values = self.session.run(list(self.config.outputs), {INPUT_NAME: batch})
        return dict(zip(self.config.outputs, values, strict=True))

    def read(self, crops_bgr: Sequence[np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Every output for BGR uint8 face crops (resized as in training), from one forward pass."""
        batch = preprocess_batch(crops_bgr, self.config)
        if len(batch) == 0:
            raise ValueError("no face crops to read")
        return self.outputs(batch)

    def nfcs(self, crops_bgr: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P(pain) N, P(action) N x A in ``config.actions`` order, action count N) per face crop;
        ModelFileError when the file has no action outputs."""
        if not self.has_actions:
            raise ModelFileError(f"{self.path}: this model has no NFCS action outputs (trained with --targets pain)")
        if len(crops_bgr) == 0:
            empty = np.zeros(0, np.float64)
            return empty, np.zeros((0, len(self.config.actions))), empty
        return self.nfcs_of(self.read(crops_bgr))

    def nfcs_of(self, out: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``nfcs``' three from outputs already read (``read``)."""
        pain = softmax(out["logits"].astype(np.float64))[:, self.pain_index]
        return pain, out["actions"].astype(np.float64), out["nfcs_count"][:, 0].astype(np.float64)

    def pain_of(self, out: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(pain) per face from outputs already read (``read``)."""
        return softmax(out["logits"].astype(np.float64))[:, self.pain_index]

    def visibility_of(self, out: Mapping[str, np.ndarray]) -> list[dict[str, float]]:
        """Per face, P(visible) of each region the model reads, from outputs already read (``read``);
        ModelFileError when the file has no visibility output."""
        if not self.has_visibility:
            raise ModelFileError(f"{self.path}: this model reads no region visibility (trained without "
                                 "--targets ...,visible)")
        return [dict(zip(self.config.visible, (float(v) for v in row), strict=True)) for row in out["visible"]]

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits of a preprocessed float32 N x 3 x S x S batch."""
        return self.session.run(None, {INPUT_NAME: batch})[0]

    def probabilities(self, crops_bgr: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """P(pain) per BGR uint8 face crop (any size: resized as in training)."""
        batch = preprocess_batch(crops_bgr, self.config)
        if len(batch) == 0:
            return np.zeros(0, np.float64)
        return softmax(self.logits(batch).astype(np.float64))[:, self.pain_index]
