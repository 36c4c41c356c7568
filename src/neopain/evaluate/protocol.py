"""Running an evaluation protocol: train every model on every split, score the test part, save as we go.

Everything that can make a protocol impossible (too few subjects, a class missing from a split, a dataset
missing for a cross-dataset design, missing face files, an unknown model) is checked by ``plan`` before
anything is written or trained. Each repetition's record is written atomically as it finishes; a rerun
with the same settings skips the finished ones, a rerun with other settings into the same folder is
refused. Per-repetition training folders are deleted once scored unless ``keep_checkpoints``.

This is the one module of ``neopain.evaluate`` that imports torch (through the trainer).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neopain.data import Sample, manifest_hash
from neopain.evaluate import baseline as bl
from neopain.evaluate.card import data_summary
from neopain.evaluate.metrics import binary_metrics
from neopain.evaluate.nfcs import nfcs_predictions
from neopain.evaluate.results import (
    BASELINE,
    ORACLE,
    PAPER,
    PROTOCOL_KEYS,
    REFERENCES,
    RUN_FILE,
    SUBJECT,
    ResultsError,
    design_name,
    fingerprint,
    protocol_label,
    read_json,
    record_path,
    write_json,
)
from neopain.evaluate.segments import segment_metrics
from neopain.evaluate.splits import (
    Split,
    SplitError,
    cross_dataset,
    cross_dataset_designs,
    cross_dataset_kfold,
    paper_holdout,
    subject_holdout,
    subject_key,
    subject_kfold,
    targets,
)
from neopain.train import TrainConfig, TrainResult

Trainer = Callable[..., TrainResult]  # the signature of neopain.train.train


class ProtocolError(SplitError):
    """The protocol cannot run as asked; raised before any training."""


@dataclass(frozen=True)
class EvalConfig:
    protocols: tuple[str, ...] = (PAPER, SUBJECT)
    models: tuple[str, ...] = ("mobilenet_v2",)
    repeats: int = 10
    folds: int = 0  # > 0: subject-independent k-fold instead of repeated subject hold-out
    test_size: float = 0.2
    seed: int = 0
    baseline: bool = True  # the pixel logistic regression on the same splits
    designs: tuple[tuple[str, ...], ...] | None = None  # training sets; None: each dataset, then all
    keep_checkpoints: bool = False
    sensitivity: float = 0.95  # the report's threshold target
    train: TrainConfig = field(default_factory=TrainConfig)

    def settings(self) -> dict[str, Any]:
        """What the results depend on (not the device, not resume), for the resume check."""
        train = {k: v for k, v in self.train.to_dict().items() if k not in ("device", "resume", "final")}
        return {
            "protocols": list(self.protocols),
            "repeats": self.repeats,
            "folds": self.folds,
            "test_size": self.test_size,
            "seed": self.seed,
            "train": train,
        }


@dataclass(frozen=True)
class Job:
    """One repetition of one model on one split, and where its record goes."""

    protocol: str
    label: str
    design: str
    model: str
    split: Split
    path: Path
    key: str  # fingerprint of the settings and the split's rows

    @property
    def title(self) -> str:
        return f"{self.label} · train on {self.design} · {self.model} · {self.split.repeat + 1}"


def _check_config(config: EvalConfig) -> None:
    from neopain.models import available_models

    unknown = [p for p in config.protocols if p not in PROTOCOL_KEYS]
    if not config.protocols or unknown:
        raise ProtocolError(
            f"protocol(s) {unknown or 'none'} unknown; use {', '.join(PROTOCOL_KEYS)} or both"
        )
    if not config.models:
        raise ProtocolError("no model to evaluate")
    missing = [m for m in config.models if m not in available_models() or m in REFERENCES]
    if missing:
        raise ProtocolError(f"unknown model(s) {missing}; available: {', '.join(available_models())}")
    if config.folds == 1 or config.folds < 0:
        raise ProtocolError(f"folds must be 0 (repeated hold-out) or >= 2, got {config.folds}")


def _designs(samples: Sequence[Sample], config: EvalConfig) -> list[tuple[str, ...]]:
    """Training sets: the given ones, Table I's when there are 2+ datasets, else () meaning all rows."""
    if config.designs is not None:
        if not config.designs:
            raise ProtocolError("designs: empty list of training sets")
        return [tuple(sorted(set(d))) for d in config.designs]
    if len({s.dataset for s in samples}) >= 2:
        return cross_dataset_designs(samples)
    return [()]


def make_splits(
    samples: Sequence[Sample], protocol: str, design: tuple[str, ...], config: EvalConfig
) -> list[Split]:
    """The splits of one (protocol, training set)."""
    mode, folds = protocol, config.folds if protocol == SUBJECT else 0
    if design:
        if folds:
            return cross_dataset_kfold(samples, design, folds, config.seed)
        return cross_dataset(samples, design, mode, config.repeats, config.test_size, config.seed)
    if protocol == PAPER:
        return paper_holdout(samples, config.repeats, config.test_size, config.seed)
    if folds:
        return subject_kfold(samples, folds, config.seed)
    return subject_holdout(samples, config.repeats, config.test_size, config.seed)


def _check_trainable(samples: Sequence[Sample], split: Split, config: EvalConfig) -> None:
    """The trainer must be able to carve its validation subjects from this split's training part."""
    from neopain.train import TrainDataError, check_task, split_train_val

    part = [samples[i] for i in split.train]
    try:
        check_task(part, what=f"split '{split.name}', training part")
    except TrainDataError as exc:
        raise ProtocolError(str(exc)) from exc
    try:
        split_train_val(part, config.train.val_fraction, config.train.seed + split.repeat)
    except (TrainDataError, ValueError) as exc:
        raise ProtocolError(f"split '{split.name}', validation carved from training: {exc}") from exc


def plan(
    samples: Sequence[Sample], manifest_file: str | Path, out_dir: str | Path, config: EvalConfig
) -> list[Job]:
    """Every repetition to run, after every check that can fail; writes nothing."""
    from neopain.train import TrainDataError, face_files

    _check_config(config)
    targets(samples)  # every row labelled
    try:
        face_files(samples, manifest_file)
    except TrainDataError as exc:
        raise ProtocolError(str(exc)) from exc
    settings = {**config.settings(), "manifest_hash": manifest_hash(samples)}
    single = sorted({s.dataset for s in samples})
    references = (BASELINE, ORACLE) if bl.nfcs_scores(samples) is not None else (BASELINE,)
    models = (*config.models, *references) if config.baseline else config.models
    jobs = []
    for protocol in config.protocols:
        label = protocol_label(protocol, config.folds if protocol == SUBJECT else 0)
        for design in _designs(samples, config):
            name = design_name(design) if design else design_name(single if len(single) == 1 else ())
            for split in make_splits(samples, protocol, design, config):
                if any(m not in REFERENCES for m in models):
                    _check_trainable(samples, split, config)
                rows = {
                    "train": sorted(samples[i].path for i in split.train),
                    "test": sorted(samples[i].path for i in split.test),
                }
                for model in models:
                    key = fingerprint({"settings": settings, "rows": rows, "model": model})
                    path = record_path(Path(out_dir), protocol, name, model, split.repeat)
                    jobs.append(Job(protocol, label, name, model, split, path, key))
    return jobs


def _check_run_file(out_dir: Path, info: dict[str, Any]) -> None:
    run_file = out_dir / RUN_FILE
    if run_file.is_file():
        before = read_json(run_file)
        if before.get("settings_key") != info["settings_key"]:
            raise ResultsError(
                f"{run_file}: this folder holds an evaluation made with other settings "
                f"({before.get('settings')}); use another --out or delete it"
            )


def _is_done(job: Job) -> bool:
    if not job.path.is_file():
        return False
    saved = read_json(job.path)
    if saved.get("key") != job.key:
        raise ResultsError(
            f"{job.path}: made with other settings or other rows; use another --out or delete it"
        )
    return True


class _Scorer:
    """Trains and scores the jobs; holds what is shared between them (baseline features, runtime)."""

    def __init__(
        self,
        samples: Sequence[Sample],
        manifest_file: str | Path,
        out_dir: Path,
        config: EvalConfig,
        trainer: Trainer,
    ) -> None:
        self.samples, self.manifest_file, self.out_dir = list(samples), manifest_file, out_dir
        self.config, self.trainer = config, trainer
        self.y = targets(self.samples)
        self._features: np.ndarray | None = None

    def predict(self, job: Job) -> tuple[np.ndarray, dict[str, Any]]:
        if job.model == BASELINE:
            return self._baseline(job), {"model": bl.BASELINE_NAME, "pixels": bl.DEFAULT_SIZE}
        if job.model == ORACLE:
            scores = bl.nfcs_scores(self.samples)
            assert scores is not None  # jobs get an oracle only when every row has a score
            p = bl.fit_predict(scores, self.y, job.split.train, job.split.test, c=1.0, seed=job.split.seed)
            return p, {"model": bl.ORACLE_NAME}
        return self._cnn(job)

    def _baseline(self, job: Job) -> np.ndarray:
        if self._features is None:
            self._features = bl.pixel_features(self.samples, self.manifest_file)
        return bl.fit_predict(self._features, self.y, job.split.train, job.split.test, seed=job.split.seed)

    def _cnn(self, job: Job) -> tuple[np.ndarray, dict[str, Any]]:
        from neopain.train import load_faces, make_runtime, predict_proba

        work = (
            self.out_dir / "work" / job.protocol / job.design / job.model / f"repeat_{job.split.repeat:02d}"
        )
        config = replace(
            self.config.train, seed=self.config.train.seed + job.split.repeat, final=False, resume=False
        )
        result = self.trainer(
            [self.samples[i] for i in job.split.train], self.manifest_file, job.model, work, config
        )
        runtime = make_runtime(config.device, config.amp, config.deterministic)
        test = [self.samples[i] for i in job.split.test]
        faces = load_faces(test, self.manifest_file, result.config.input_size, runtime.device)
        model = runtime.prepare_model(result.model)
        p = predict_proba(model, faces.images, runtime)[:, 1].numpy()
        nfcs = nfcs_predictions(model, faces.images, runtime, test) if result.config.actions else None
        info = {
            "nfcs": nfcs,
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
            "stop_reason": result.stop_reason,
            "model_config": result.config.to_dict(),
            "history": result.history,
        }
        if not self.config.keep_checkpoints:
            shutil.rmtree(work, ignore_errors=True)
        return p.astype(np.float64), info

    def record(self, job: Job) -> dict[str, Any]:
        started = time.perf_counter()
        p, info = self.predict(job)
        y = self.y[job.split.test]
        return {
            "key": job.key,
            "protocol": job.protocol,
            "label": job.label,
            "design": job.design,
            "model": job.model,
            "repeat": job.split.repeat,
            "split": job.split.name,
            "subject_independent": job.split.subject_independent,
            "train_on": list(job.split.train_on),
            "n_train": len(job.split.train),
            "n_test": len(job.split.test),
            "train_subjects": sorted({subject_key(self.samples[i]) for i in job.split.train}),
            "test_subjects": sorted({subject_key(self.samples[i]) for i in job.split.test}),
            "test_paths": [self.samples[i].path for i in job.split.test],
            "test_datasets": [self.samples[i].dataset for i in job.split.test],
            "y": y,
            "p": p,
            "metrics": binary_metrics(y, p) | segment_metrics([self.samples[i] for i in job.split.test], y, p),
            "info": {**info, "seconds": round(time.perf_counter() - started, 2)},
        }


def run_info(samples: Sequence[Sample], manifest_file: str | Path, config: EvalConfig) -> dict[str, Any]:
    """The run's settings as saved in OUT/evaluation.json (read back by the report and the card)."""
    settings = {**config.settings(), "manifest_hash": manifest_hash(samples)}
    return {
        "settings": settings,
        "settings_key": fingerprint(settings),
        "manifest": str(manifest_file),
        "models": list(config.models),
        "baseline": config.baseline,
        "sensitivity": config.sensitivity,
        "protocol_labels": {
            p: protocol_label(p, config.folds if p == SUBJECT else 0) for p in config.protocols
        },
        "synthetic": bool(samples) and all(s.dataset == "synthetic" for s in samples),
        "datasets": sorted({s.dataset for s in samples}),
        "data": {k: v for k, v in data_summary(samples).items() if k != "per_subject"},
    }


def run_protocol(
    samples: Sequence[Sample],
    manifest_file: str | Path,
    out_dir: str | Path,
    config: EvalConfig = EvalConfig(),
    trainer: Trainer | None = None,
    progress: bool = True,
) -> list[Path]:
    """Run (or resume) the evaluation into ``out_dir``; returns the record files, one per repetition."""
    from neopain.train import train

    out_dir = Path(out_dir)
    samples = list(samples)
    jobs = plan(samples, manifest_file, out_dir, config)
    info = run_info(samples, manifest_file, config)
    _check_run_file(out_dir, info)
    todo = [job for job in jobs if not _is_done(job)]
    write_json(out_dir / RUN_FILE, info)
    scorer = _Scorer(samples, manifest_file, out_dir, config, trainer or train)
    for job in _progress(todo, len(jobs), progress):
        write_json(job.path, scorer.record(job))
    work = out_dir / "work"
    if work.is_dir() and not config.keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    return [job.path for job in jobs]


def _progress(todo: list[Job], total: int, show: bool):
    """Yield the jobs under a rich progress bar (finished ones already counted)."""
    if not show:
        yield from todo
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("repetitions", total=total, completed=total - len(todo))
        for job in todo:
            bar.update(task, description=job.title)
            yield job
            bar.advance(task)


def train_final(
    samples: Sequence[Sample],
    manifest_file: str | Path,
    model: str,
    out_dir: str | Path,
    config: TrainConfig,
    trainer: Trainer | None = None,
) -> TrainResult:
    """The deployment model: trained on every row, no validation (as the paper), into ``out_dir``."""
    from neopain.train import train

    _check_config(EvalConfig(models=(model,), train=config))
    return (trainer or train)(list(samples), manifest_file, model, out_dir, replace(config, final=True))


def cv_epochs(out_dir: str | Path, model: str) -> int | None:
    """The epochs a final model trains for when the repetitions choose them: the median best epoch of
    ``model``'s subject-independent repetitions under ``out_dir`` (image-wise ones if there are none),
    rounded up; None when no repetition recorded one."""
    from neopain.evaluate.results import load_records

    records = [r for r in load_records(out_dir) if r.model == model and "best_epoch" in r.info]
    chosen = [r for r in records if r.protocol == SUBJECT] or records
    if not chosen:
        return None
    return max(1, int(np.ceil(np.median([int(r.info["best_epoch"]) for r in chosen]))))
