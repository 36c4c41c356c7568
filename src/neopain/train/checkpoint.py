"""Checkpoints, per-epoch logs and curves: everything training writes, each file written atomically."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from neopain.core.atomic import atomic_write_bytes, atomic_write_text
from neopain.faces import CropSettings
from neopain.models import ModelError, PainNet, create_model
from neopain.pixels.augment import Augmenter
from neopain.pixels.preprocess import ModelConfig
from neopain.scales.nfcs import LABELS

CHECKPOINT_KEYS = ("model", "config", "optimizer", "epoch", "phase", "history", "manifest_hash", "seed")


class CheckpointError(ValueError):
    """A checkpoint is unreadable, incomplete or does not fit the task."""


def write_text(path: Path, text: str) -> Path:
    return atomic_write_text(path, text)


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> Path:
    missing = [k for k in CHECKPOINT_KEYS if k not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: refusing to save a checkpoint without {', '.join(missing)}")
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return atomic_write_bytes(Path(path), buffer.getvalue())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc})") from exc
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a neopain checkpoint (missing {', '.join(missing)})")
    return ckpt


def check_labels(cfg: ModelConfig, labels: Sequence[str], where: str) -> None:
    if tuple(cfg.labels) != tuple(labels):
        raise CheckpointError(
            f"{where}: checkpoint labels {list(cfg.labels)} do not match the task's labels {list(labels)}"
        )


def model_from_config(cfg: ModelConfig) -> PainNet:
    """An untrained model of ``cfg``'s architecture carrying ``cfg`` itself (weights source included)."""
    model = create_model(cfg.name, pretrained=False, input_size=cfg.input_size, head=cfg.head)
    if cfg.actions:
        model.add_nfcs_head(cfg.actions, cfg.nfcs_version)
    if cfg.visible:
        model.add_visible_head(cfg.visible)
    built = model.cfg.with_(weights=cfg.weights, licence=cfg.licence)
    if built != cfg:
        raise CheckpointError(f"model '{cfg.name}' built today differs from its saved config: {built} vs {cfg}")
    model.cfg = cfg
    return model


def load_checkpoint(
    path: str | Path, labels: Sequence[str] = LABELS, device: str | torch.device = "cpu"
) -> tuple[PainNet, ModelConfig, dict[str, Any]]:
    """(model in eval mode with the saved weights, its ModelConfig, the raw checkpoint dict)."""
    ckpt = read_checkpoint(path)
    cfg = ModelConfig.from_dict(ckpt["config"])
    check_labels(cfg, labels, str(path))
    try:
        model = model_from_config(cfg)
        model.load_state_dict(ckpt["model"])
    except (ModelError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit model '{cfg.name}' ({exc})") from exc
    return model.to(device).eval(), cfg, ckpt


HISTORY_FIELDS = (
    "epoch", "phase", "lr", "train_images", "train_loss", "train_acc", "val_loss", "val_ce", "val_acc",
    "seconds", "images_per_s", "improved",
)


def write_history(out_dir: Path, history: Sequence[dict[str, Any]]) -> None:
    """history.jsonl and history.csv, rewritten whole each epoch (a resumed run keeps one clean log)."""
    write_text(out_dir / "history.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in history))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(out_dir / "history.csv", buffer.getvalue())


def plot_curves(out_dir: Path, history: Sequence[dict[str, Any]]) -> Path | None:
    """Loss and accuracy per epoch, train vs validation, with the phase-2 start marked."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "loss (CE + L1)"), (axes[1], "acc", "accuracy")):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], label="train")
        vals = [r.get(f"val_{key}") for r in history]
        if any(v is not None for v in vals):
            ax.plot(epochs, [float("nan") if v is None else v for v in vals], label="validation")
        phase2 = [r["epoch"] for r in history if r["phase"] == 2]
        if phase2:
            ax.axvline(phase2[0], color="grey", linestyle="--", label="fine-tuning starts")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(out_dir / "curves.png", buffer.getvalue())


def crop_for(
    ckpt: Mapping[str, Any], input_size: int, margin: float | None = None, align: bool | None = None
) -> CropSettings:
    """The CropSettings to cut faces for this checkpoint: given values, else those its training faces used
    (``crop`` key, from ``faces extract``'s crop.json), else those of a crop that records none."""
    trained = CropSettings.from_dict({**(ckpt.get("crop") or {}), "size": input_size})
    return replace(
        trained, margin=trained.margin if margin is None else margin, align=trained.align if align is None else align
    )


def rng_states(shuffle: torch.Generator, augmenter: Augmenter | None) -> dict[str, Any]:
    """The random states a resumed training continues from (torch, the shuffle, CUDA, the augmenter)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if augmenter is not None:
        states["augmenter"] = augmenter.state_dict()
    return states


def check_resume(ckpt: dict[str, Any], last: Path, model_name: str, mhash: str, seed: int) -> ModelConfig:
    """The config of a run to resume from ``last``; CheckpointError when it trained another model, rows or seed."""
    cfg = ModelConfig.from_dict(ckpt["config"])
    check_labels(cfg, LABELS, str(last))
    if cfg.name != model_name:
        raise CheckpointError(f"{last}: was training '{cfg.name}', not '{model_name}'")
    if ckpt["manifest_hash"] != mhash:
        raise CheckpointError(f"{last}: trained on other rows (manifest hash {ckpt['manifest_hash']}, now {mhash})")
    if ckpt["seed"] != seed:
        raise CheckpointError(f"{last}: seed {ckpt['seed']} differs from --seed {seed}")
    return cfg
