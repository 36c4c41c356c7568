"""Checkpoint -> ONNX classifier with its config, id and card in the metadata, checked against torch.

The exported graph takes the preprocessed float32 N x 3 x S x S batch (``neopain.pixels.preprocess``) and
returns logits N x 2; the batch axis is dynamic. Quantisation lives in ``neopain.export.quant``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neopain.evaluate import card_summary
from neopain.export.compat import exportable
from neopain.export.onnx_io import load_model, save_atomic, set_metadata, temp_path
from neopain.faces import CropSettings
from neopain.inference import (
    INPUT_NAME,
    META_CARD,
    META_CONDITIONS,
    META_CONFIG,
    META_CROP,
    META_FEDERATION,
    META_MODEL_ID,
    META_OUTPUTS,
    META_QUANTIZATION,
    META_SYNTHETIC,
    OnnxClassifier,
    outputs_summary,
)
from neopain.models import PainNet
from neopain.pixels.preprocess import ModelConfig, preprocess_batch
from neopain.train import load_checkpoint

log = logging.getLogger(__name__)

CARD_FILE = "model_card.json"
OPSET = 17
PARITY_TOLERANCE = 1e-3  # max |logit diff| allowed, relative to max(1, largest |logit|)


class ExportError(ValueError):
    """Export failed or the exported model does not reproduce the checkpoint."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    model_id: str
    max_abs_logit_diff: float
    tolerance: float
    synthetic: bool


def weights_hash(state_dict: Mapping[str, torch.Tensor], length: int = 8) -> str:
    """Short sha256 over the (sorted) parameter and buffer bytes: the same weights give the same id."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return digest.hexdigest()[:length]


def read_card(checkpoint_path: Path, card: Mapping[str, Any] | str | Path | None) -> dict[str, Any] | None:
    """The model card: given as a dict or a JSON file, else ``model_card.json`` beside the checkpoint."""
    if isinstance(card, Mapping):
        return dict(card)
    file = Path(card) if card is not None else checkpoint_path.parent / CARD_FILE
    if not file.is_file():
        if card is not None:
            raise ExportError(f"{file}: model card not found")
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{file}: cannot read the model card ({exc})") from exc
    if not isinstance(data, dict):
        raise ExportError(f"{file}: a model card must be a JSON object")
    return data


def _datasets_named(holder: Mapping[str, Any]) -> list[str] | None:
    for key in ("datasets", "dataset", "train_datasets", "manifest_datasets"):
        value = holder.get(key)
        if isinstance(value, str):
            return [value]
        if isinstance(value, Mapping):
            return [str(k) for k in value]
        if isinstance(value, Sequence) and value:
            return [str(v) for v in value]
    return None


def trained_on_synthetic(ckpt: Mapping[str, Any], card: Mapping[str, Any] | None) -> bool:
    """True when whatever the checkpoint (or the card) says about its training data is all synthetic.

    Today's checkpoints carry no dataset names; then the answer is False unless the card says so.
    """
    for holder in (ckpt, card or {}):
        if isinstance(holder.get("synthetic"), bool):
            return bool(holder["synthetic"])
        names = _datasets_named(holder)
        if names:
            return all(name == "synthetic" for name in names)
    return False


def _parity_batch(cfg: ModelConfig, crops: Sequence[np.ndarray] | None, seed: int) -> np.ndarray:
    """Real crops if given, plus seeded random images, preprocessed exactly as serving does."""
    rng = np.random.default_rng(seed)
    images = list(crops or []) + [
        rng.integers(0, 256, size=(cfg.input_size, cfg.input_size, 3), dtype=np.uint8) for _ in range(4)
    ]
    return preprocess_batch(images, cfg)


class AllOutputs(torch.nn.Module):
    """What the ONNX file computes: the pain logits, then for an NFCS model each action's probability
    (sigmoid) and the action count, then for a model reading the regions P(visible) per region (sigmoid),
    in ``ModelConfig.outputs`` order."""

    def __init__(self, model: PainNet) -> None:
        super().__init__()
        self.model = model
        self.actions = len(model.cfg.actions)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, nfcs, visible = self.model.forward_heads(x)
        outputs: tuple[torch.Tensor, ...] = (logits,)
        if nfcs is not None:
            outputs += (torch.sigmoid(nfcs[:, : self.actions]), nfcs[:, self.actions :])
        if visible is not None:
            outputs += (torch.sigmoid(visible),)
        return outputs


def _torch_export(model: PainNet, size: int, out: Path) -> None:
    dummy = torch.zeros(1, 3, size, size)
    names = list(model.cfg.outputs)
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript (not a
        # dependency) and handles nothing more for these plain CNNs.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            AllOutputs(model), (dummy,), str(out), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=names,
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in names}},
            do_constant_folding=True,
        )


def check_parity(model: PainNet, onnx_path: Path, batch: np.ndarray, tolerance: float) -> float:
    """Max |diff| between torch and ONNX Runtime over every output on ``batch``, run as one batch and one
    by one (the dynamic batch axis must work); raises ExportError above the tolerance."""
    with torch.no_grad():
        expected = [t.numpy() for t in AllOutputs(model.eval())(torch.from_numpy(batch))]
    classifier = OnnxClassifier(onnx_path, threads=2)
    together = classifier.outputs(batch)
    single = [classifier.outputs(batch[i : i + 1]) for i in range(len(batch))]
    worst = 0.0
    for k, (name, want) in enumerate(zip(model.cfg.outputs, expected, strict=True)):
        alone = np.concatenate([s[name] for s in single])
        diff = float(max(np.abs(together[name] - want).max(), np.abs(alone - want).max()))
        allowed = tolerance * max(1.0, float(np.abs(want).max()))
        if not diff <= allowed:
            raise ExportError(f"{onnx_path}: ONNX output {k} ({name}) values differ from torch by {diff:.3g} "
                              f"(allowed {allowed:.3g})")
        worst = max(worst, diff)
    return worst


def export_onnx(checkpoint_path: str | Path, out_path: str | Path, **options: Any) -> Path:
    """Export a training checkpoint to ONNX; options and checks as ``export_checked``."""
    return export_checked(checkpoint_path, out_path, **options).path


def export_checked(
    checkpoint_path: str | Path,
    out_path: str | Path,
    card: Mapping[str, Any] | str | Path | None = None,
    crop_settings: CropSettings | None = None,
    parity_crops: Sequence[np.ndarray] | None = None,
    tolerance: float = PARITY_TOLERANCE,
    seed: int = 0,
) -> ExportResult:
    """Export, write the metadata, check parity against torch; nothing is left at ``out_path`` on failure."""
    checkpoint_path, out_path = Path(checkpoint_path), Path(out_path)
    model, cfg, ckpt = load_checkpoint(checkpoint_path)
    model_card = read_card(checkpoint_path, card)
    if crop_settings is None and ckpt.get("crop"):
        crop_settings = CropSettings.from_dict(ckpt["crop"])  # as the training faces were cut
    synthetic = trained_on_synthetic(ckpt, model_card)
    model_id = f"{cfg.name}-{weights_hash(model.state_dict())}"
    metadata = {
        META_CONFIG: cfg.to_json(),
        META_MODEL_ID: model_id,
        META_SYNTHETIC: "true" if synthetic else "false",
        META_QUANTIZATION: "none",
        META_OUTPUTS: json.dumps(outputs_summary(cfg), sort_keys=True),
    }
    if model_card is not None:
        metadata[META_CARD] = json.dumps(card_summary(model_card), sort_keys=True)
    if crop_settings is not None:
        metadata[META_CROP] = json.dumps(asdict(crop_settings), sort_keys=True)
    if ckpt.get("conditions"):
        metadata[META_CONDITIONS] = json.dumps(list(ckpt["conditions"]))
    if ckpt.get("federation"):
        metadata[META_FEDERATION] = json.dumps(ckpt["federation"], sort_keys=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    raw = temp_path(out_path.parent, ".onnx")
    try:
        _torch_export(exportable(model, cfg.input_size), cfg.input_size, raw)
        proto = load_model(raw)
        proto.doc_string = (f"neopain classifier {model_id}: preprocessed {cfg.input_size}px crops -> "
                            f"{', '.join(cfg.outputs)}")
        set_metadata(proto, metadata)
        save_atomic(proto, raw)
        diff = check_parity(model, raw, _parity_batch(cfg, parity_crops, seed), tolerance)
        raw.replace(out_path)
    finally:
        raw.unlink(missing_ok=True)
    log.info("exported %s to %s; parity max |logit diff| = %.3g", model_id, out_path, diff)
    return ExportResult(out_path, model_id, diff, tolerance, synthetic)
