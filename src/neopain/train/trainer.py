"""Two-phase transfer learning, as the paper (section II-B3).

Phase 1: backbone frozen, head trained with RMSprop at 1e-4, batch 16, cross-entropy + L1 (5e-4) on the
head. When the validation loss has not improved for ``patience`` (5) epochs, phase 2 unfreezes the
model's fine-tuning stages (VGG conv groups 4 and 5) at 1e-6, and training stops at the next plateau or
at ``epochs``. Validation is carved from the training samples only, grouped by subject.

Out dir: ``last.pt`` (resume), ``best.pt`` (lowest validation loss), ``history.jsonl``/``.csv``,
``curves.png``, ``model_config.json``, ``split.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from neopain.data import Sample, manifest_hash
from neopain.faces import read_crop_file
from neopain.models import PainNet, create_model
from neopain.pixels.augment import AUGMENT_MODES, Augmenter
from neopain.pixels.preprocess import HeadConfig, ModelConfig
from neopain.scales.nfcs import ACTIONS, DEFAULT_VERSION, REGIONS, nfcs_version
from neopain.train.checkpoint import (
    CheckpointError,
    check_resume,
    load_checkpoint,
    model_from_config,
    plot_curves,
    read_checkpoint,
    rng_states,
    save_checkpoint,
    write_history,
    write_text,
)
from neopain.train.data import FaceSet, check_task, face_files, load_faces, split_train_val
from neopain.train.loop import (
    Runtime,
    evaluate,
    make_optimizer,
    make_runtime,
    predict_proba,
    set_phase,
    train_epoch,
    training_set,
)
from neopain.train.occlusion import occluded_copies
from neopain.train.regions import REGION_SOURCES, crop_landmarks, load_region_masks, region_parts
from neopain.train.ward_copies import trained_conditions, ward_copies

__all__ = ["CheckpointError", "TrainConfig", "TrainResult", "load_checkpoint", "predict_samples", "train"]

log = logging.getLogger(__name__)


FINETUNE_MODES = ("paper", "all", "late")
MONITORS = ("loss", "ce", "auc")
TARGETS = ("pain", "nfcs", "visible")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100  # the most epochs over both phases
    batch_size: int = 16
    lr_head: float = 1e-4
    lr_finetune: float = 1e-6
    patience: int = 5
    min_delta: float = 0.0
    val_fraction: float = 0.2
    augment: str = "offline"  # offline (20 fixed copies per face) | online (fresh each epoch) | none
    copies: int = 20
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    amp: bool = True  # bf16 autocast, CUDA only
    input_size: int | None = None
    pretrained: bool = True
    weights_path: str | None = None
    head: HeadConfig | None = None
    # Plateau on validation "loss" (CE + L1, as Keras' val_loss), "ce" (CE alone), both plus the NFCS loss
    # for an NFCS model, or "auc" (1 - the mean ROC AUC of P(pain) and each action: the ranking the
    # evaluation scores, which keeps improving after an overconfident BCE has turned up).
    monitor: str = "loss"
    # "paper": head only, then the last stages after a plateau; "all": every layer from the first epoch,
    # one phase (ImageNet backbones, whose features are not face features, gain from it); "late": as "all"
    # with the first two backbone stages frozen (about 1.3x faster on a CPU, docs/TRAINING.md).
    finetune: str = "paper"
    final: bool = False  # train on every sample, no validation; plateaus are judged on the training loss
    resume: bool = False
    # Weight of the region prior (0 = off): the share of the decision's attribution outside the NFCS regions
    # joins the loss (train/prior.py); regions from the manifest's masks or placed on the box (train/regions.py).
    region_prior: float = 0.0
    region_source: str = "auto"
    # "pain" alone, or with "nfcs": one sigmoid per NFCS action and an action count beside P(pain), their
    # loss masked where a row does not code them (``nfcs_version`` names the scale the score uses); and/or
    # "visible": one sigmoid per NFCS region, whether it shows, from the rows' ``hidden`` regions.
    targets: tuple[str, ...] = ("pain",)
    nfcs_version: str = DEFAULT_VERSION
    # Share of the labelled training faces that also train as a copy with one NFCS region blurred and its
    # actions unknown (train/occlusion.py); 0 = off.
    region_occlusion: float = 0.0
    # Share of the training faces that also train as a copy with one ward condition drawn on the crop
    # (train/ward_copies.py); ``augment="nicu"`` is online augmentation with half the faces copied.
    ward_copies: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        if self.augment == "nicu":
            object.__setattr__(self, "augment", "online")
            object.__setattr__(self, "ward_copies", self.ward_copies or 0.5)
        if not 0 <= self.ward_copies <= 1:
            raise ValueError(f"ward copies are a share in [0, 1], got {self.ward_copies}")
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown or "pain" not in self.targets or len(set(self.targets)) != len(self.targets):
            raise ValueError("targets must be 'pain' followed by any of 'nfcs', 'visible', "
                             f"got {','.join(self.targets)!r}")
        nfcs_version(self.nfcs_version)  # NfcsError (a ValueError) names the known versions
        if not 0 <= self.region_occlusion <= 1 or (self.region_occlusion and "nfcs" not in self.targets):
            raise ValueError("region occlusion is a share in [0, 1] and needs --targets pain,nfcs")
        if self.augment not in AUGMENT_MODES:
            raise ValueError(f"augment must be one of {AUGMENT_MODES}, got '{self.augment}'")
        if self.finetune not in FINETUNE_MODES:
            raise ValueError(f"finetune must be one of {FINETUNE_MODES}, got '{self.finetune}'")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got '{self.monitor}'")
        if self.epochs < 1 or self.batch_size < 2 or self.patience < 1:
            raise ValueError("epochs >= 1, batch_size >= 2 and patience >= 1 are required")
        if self.region_source not in REGION_SOURCES:
            raise ValueError(f"region_source must be one of {REGION_SOURCES}, got '{self.region_source}'")
        if self.region_prior < 0:
            raise ValueError(f"region_prior must be >= 0, got {self.region_prior}")
        if self.region_prior > 0 and self.augment == "offline":
            # The offline copies are warped once, before training, without their masks.
            raise ValueError("the region prior needs augment 'online' or 'none', not 'offline'")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["head"] = asdict(self.head) if self.head else None
        return data


@dataclass
class TrainResult:
    model: PainNet  # best weights (lowest monitored loss), eval mode, on CPU
    config: ModelConfig
    checkpoint: Path  # best.pt
    last_checkpoint: Path
    history: list[dict[str, Any]]
    best_epoch: int
    train_indices: list[int]
    val_indices: list[int]
    stop_reason: str


@dataclass
class _State:
    """What changes from epoch to epoch and must survive a resume."""

    epoch: int = 0  # epochs completed
    phase: int = 1
    best_loss: float = float("inf")
    best_epoch: int = 0
    since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def build_model(model_name: str, config: TrainConfig) -> PainNet:
    """The model ``train`` starts from: registry weights (pretrained or not), the head, the NFCS outputs."""
    torch.manual_seed(config.seed)  # the head's initial weights come from the seed
    model = create_model(
        model_name,
        pretrained=config.pretrained,
        input_size=config.input_size,
        head=config.head,
        weights_path=config.weights_path,
    )
    if "nfcs" in config.targets:
        model.add_nfcs_head(ACTIONS, config.nfcs_version)
    if "visible" in config.targets:
        model.add_visible_head(REGIONS)
    return model


def _make_checkpoint(model: PainNet, optimizer: torch.optim.Optimizer, state: _State, extra: dict[str, Any]) -> dict:
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": model.cfg.to_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": state.epoch,
        "phase": state.phase,
        "history": list(state.history),
        "best_loss": state.best_loss,
        "best_epoch": state.best_epoch,
        "since_best": state.since_best,
        **extra,
    }


def _restore(
    ckpt: dict[str, Any], model: PainNet, shuffle: torch.Generator, augmenter: Augmenter | None
) -> _State:
    model.load_state_dict(ckpt["model"])
    rng = ckpt["rng"]
    torch.set_rng_state(rng["torch"])
    shuffle.set_state(rng["shuffle"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if augmenter is not None and "augmenter" in rng:
        augmenter.load_state_dict(rng["augmenter"])
    return _State(ckpt["epoch"], ckpt["phase"], ckpt["best_loss"], ckpt["best_epoch"], ckpt["since_best"],
                  list(ckpt["history"]))


def _split(samples: Sequence[Sample], config: TrainConfig) -> tuple[list[int], list[int]]:
    if config.final:
        return list(range(len(samples))), []
    return split_train_val(samples, config.val_fraction, config.seed)


def _monitored(record: dict[str, Any], train_loss: float, monitor: str) -> float:
    """The value whose plateau ends a phase (lower is better); the training loss without validation."""
    if "val_loss" not in record:
        return train_loss
    if monitor == "auc" and record.get("val_auc") is not None:
        return 1.0 - record["val_auc"]
    # An NFCS model keeps learning while its actions improve, not only while P(pain) does.
    return record["val_ce" if monitor == "ce" else "val_loss"] + record.get("val_nfcs", 0.0) + record.get(
        "val_visible", 0.0)


def _advance(state: _State, monitored: float, config: TrainConfig) -> str | None:
    """Update plateau bookkeeping; returns 'phase2', 'stop' or None."""
    if monitored < state.best_loss - config.min_delta:
        state.best_loss, state.best_epoch, state.since_best = monitored, state.epoch, 0
        return None
    state.since_best += 1
    if state.since_best < config.patience:
        return None
    return "phase2" if state.phase == 1 and config.finetune == "paper" else "stop"


def training_crop(manifest_file: str | Path) -> dict[str, Any] | None:
    """How the training faces were cut (``crop.json`` of ``faces extract``), kept in the checkpoint for export."""
    settings = read_crop_file(manifest_file)
    return None if settings is None else asdict(settings)


def train(
    samples: Sequence[Sample],
    manifest_file: str | Path,
    model_name: str,
    out_dir: str | Path,
    config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``model_name`` on ``samples`` (faces; paths relative to ``manifest_file``) into ``out_dir``."""
    samples = list(samples)
    check_task(samples)
    face_files(samples, manifest_file)  # fail on missing faces before any weights are loaded
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last, best = out_dir / "last.pt", out_dir / "best.pt"
    runtime = make_runtime(config.device, config.amp, config.deterministic)
    mhash = manifest_hash(samples)
    resume_ckpt = read_checkpoint(last) if config.resume and last.is_file() else None
    if config.resume and resume_ckpt is None:
        log.warning("nothing to resume in %s: starting afresh", out_dir)
    if resume_ckpt is not None:
        model = model_from_config(check_resume(resume_ckpt, last, model_name, mhash, config.seed))
    else:
        model = build_model(model_name, config)
    train_idx, val_idx = _split(samples, config)
    faces = load_faces(samples, manifest_file, model.cfg.input_size, runtime.device, model.cfg.actions,
                       model.cfg.visible)
    region_source = None
    if config.region_prior > 0:
        faces.regions, region_source = load_region_masks(samples, manifest_file, model.cfg.input_size,
                                                         config.region_source, runtime.device)
        log.info("region prior %g on the NFCS regions from '%s' (%.0f%% of the input)",
                 config.region_prior, region_source, 100 * faces.regions.float().mean().item())
    train_faces, val_faces = faces.subset(train_idx), faces.subset(val_idx) if val_idx else None
    if config.region_occlusion:
        parts, _ = region_parts(samples, manifest_file, model.cfg.input_size, config.region_source)
        train_faces, _ = occluded_copies(train_faces, parts[train_idx], config.region_occlusion,
                                         model.cfg.actions, config.seed + 3)
    if config.ward_copies:
        points = crop_landmarks([samples[i] for i in train_idx], manifest_file, model.cfg.input_size)
        train_faces, _ = ward_copies(train_faces, points, config.ward_copies, model.cfg.actions, config.seed + 4)
    train_set, augmenter = training_set(train_faces, config.augment, config.copies, config.seed)
    shuffle = torch.Generator().manual_seed(config.seed + 1)
    state = _State()
    if resume_ckpt is not None:
        state = _restore(resume_ckpt, model, shuffle, augmenter)
        log.info("resuming %s at epoch %d (phase %d)", last, state.epoch + 1, state.phase)
    _write_run_info(out_dir, model.cfg, config, samples, train_idx, val_idx, mhash)
    # "datasets" lets export mark a model trained on synthetic faces only as the synthetic demo.
    extra = {"manifest_hash": mhash, "seed": config.seed, "datasets": sorted({s.dataset for s in samples}),
             "train_config": config.to_dict(), "crop": training_crop(manifest_file),
             "region_source": region_source, "conditions": trained_conditions(samples, config.ward_copies)}
    stop_reason = _run_epochs(model, runtime, train_set, val_faces, augmenter, shuffle, state, config,
                              resume_ckpt, out_dir, on_epoch, extra=extra)
    plot_curves(out_dir, state.history)
    best_model, cfg, _ = load_checkpoint(best if best.is_file() else last)
    return TrainResult(best_model, cfg, best if best.is_file() else last, last, state.history,
                       state.best_epoch, train_idx, val_idx, stop_reason)


def predict_samples(
    model: PainNet, samples: Sequence[Sample], manifest_file: str | Path, device: str = "auto", batch_size: int = 64
) -> torch.Tensor:
    """P(label) per sample (N x 2, columns in ``model.cfg.labels`` order, CPU float32), for evaluation."""
    runtime = make_runtime(device)
    faces = load_faces(samples, manifest_file, model.cfg.input_size, runtime.device)
    model = runtime.prepare_model(model)
    try:
        return predict_proba(model, faces.images, runtime, batch_size)
    finally:
        model.cpu()


def _run_epochs(
    model: PainNet,
    runtime: Runtime,
    train_set: FaceSet,
    val_faces: FaceSet | None,
    augmenter: Augmenter | None,
    shuffle: torch.Generator,
    state: _State,
    config: TrainConfig,
    resume_ckpt: dict[str, Any] | None,
    out_dir: Path,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    extra: dict[str, Any],
) -> str:
    model = runtime.prepare_model(model)
    set_phase(model, state.phase, config.finetune)
    lr = config.lr_head if state.phase == 1 else config.lr_finetune
    optimizer = make_optimizer(model, lr)
    if resume_ckpt is not None:
        optimizer.load_state_dict(resume_ckpt["optimizer"])
    if state.phase == 2 and state.since_best >= config.patience:
        return "plateau in phase 2"  # a finished run resumed: nothing left to do
    while state.epoch < config.epochs:
        stats = train_epoch(model, train_set, optimizer, runtime, config.batch_size, shuffle, augmenter,
                            region_weight=config.region_prior)
        state.epoch += 1
        record: dict[str, Any] = {
            "epoch": state.epoch, "phase": state.phase, "lr": lr,
            "train_loss": stats.loss, "train_acc": stats.accuracy, "train_images": stats.images,
            "seconds": round(stats.seconds, 3), "images_per_s": round(stats.images / max(stats.seconds, 1e-9), 1),
        }
        if val_faces is not None:
            ev = evaluate(model, val_faces, runtime, batch_size=max(64, config.batch_size))
            record.update(val_loss=ev.loss, val_ce=ev.cross_entropy, val_acc=ev.accuracy, val_nfcs=ev.nfcs,
                          val_auc=ev.auc, **({"val_visible": ev.visible} if model.visible_head is not None else {}))
        monitored = _monitored(record, stats.loss, config.monitor)
        event = _advance(state, monitored, config)
        record["improved"] = state.since_best == 0
        state.history.append(record)
        if event == "phase2":
            # Switch before saving, so a resumed run starts phase 2 exactly where this one would have.
            log.info("epoch %d: no improvement for %d epochs, fine-tuning %s", state.epoch, config.patience,
                     ", ".join(model.cfg.finetune_stages))
            state.phase, state.since_best, lr = 2, 0, config.lr_finetune
            set_phase(model, 2, config.finetune)
            optimizer = make_optimizer(model, lr)
        ckpt = _make_checkpoint(model, optimizer, state, {**extra, "rng": rng_states(shuffle, augmenter)})
        if record["improved"]:
            # best.pt is for use, not for resuming: no optimizer state (a third of a VGG checkpoint).
            save_checkpoint(out_dir / "best.pt", {**ckpt, "optimizer": None})
        save_checkpoint(out_dir / "last.pt", ckpt)
        write_history(out_dir, state.history)
        if on_epoch is not None:
            on_epoch(record)
        if event == "stop":
            return "plateau in phase 2"
    return "max epochs"


def _write_run_info(
    out_dir: Path, cfg: ModelConfig, config: TrainConfig, samples: Sequence[Sample],
    train_idx: Sequence[int], val_idx: Sequence[int], mhash: str,
) -> None:
    write_text(out_dir / "model_config.json", json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    split = {
        "manifest_hash": mhash,
        "seed": config.seed,
        "train_subjects": sorted({samples[i].subject for i in train_idx}),
        "val_subjects": sorted({samples[i].subject for i in val_idx}),
        "train_paths": [samples[i].path for i in train_idx],
        "val_paths": [samples[i].path for i in val_idx],
        "train_config": config.to_dict(),
    }
    write_text(out_dir / "split.json", json.dumps(split, indent=2) + "\n")
