"""Running an evaluation protocol: train every model on every split, score the test part, save as we go.

Everything that can make a protocol impossible (too few subjects, a class missing from a split, a dataset
missing for a cross-dataset design, missing face files, an unknown model) is checked by ``plan`` before
anything is written or trained. Each repetition's record is written atomically as it finishes; a rerun
with the same settings skips the finished ones, a rerun with other settings into the same folder is
refused. Per-repetition training folders are deleted once scored unless ``keep_checkpoints``.

With ``workers`` > 1 the trained repetitions run side by side in worker processes (``workers.py``), each
with its share of the CPU threads: on a small CPU, two one-thread trainings get more done than one
two-thread training. This module and ``jobs``/``workers`` are the ones of ``neopain.evaluate`` that import
torch (through the trainer).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.processes import threads_per_worker
from neopain.data import Sample, manifest_hash
from neopain.evaluate import baseline as bl
from neopain.evaluate.card import data_summary
from neopain.evaluate.jobs import EvalConfig, Job, Scorer, Trainer
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
from neopain.evaluate.splits import (
    Split,
    SplitError,
    cross_dataset,
    cross_dataset_designs,
    cross_dataset_kfold,
    paper_holdout,
    subject_holdout,
    subject_kfold,
    targets,
)
from neopain.train import TrainConfig, TrainResult

__all__ = ["EvalConfig", "ProtocolError", "cv_epochs", "plan", "run_info", "run_protocol", "train_final"]


class ProtocolError(SplitError):
    """The protocol cannot run as asked; raised before any training."""


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
    config: EvalConfig | None = None,
    trainer: Trainer | None = None,
    progress: bool = True,
    workers: int = 1,
) -> list[Path]:
    """Run (or resume) the evaluation into ``out_dir``; returns the record files, one per repetition.

    ``workers`` > 1 trains that many repetitions at a time in worker processes (``trainer`` must then be
    a module-level function, as the default is); the records are the same, only their order of arrival
    differs."""
    from neopain.train import train

    if workers < 1:
        raise ProtocolError(f"workers must be >= 1, got {workers}")
    config = config or EvalConfig()
    out_dir = Path(out_dir)
    samples = list(samples)
    jobs = plan(samples, manifest_file, out_dir, config)
    info = run_info(samples, manifest_file, config)
    _check_run_file(out_dir, info)
    todo = [job for job in jobs if not _is_done(job)]
    write_json(out_dir / RUN_FILE, info)
    scorer = Scorer(samples, manifest_file, out_dir, config, trainer or train)
    for job, record in _progress(_scored(scorer, todo, workers), len(jobs), len(jobs) - len(todo), progress):
        write_json(job.path, record)
    work = out_dir / "work"
    if work.is_dir() and not config.keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    return [job.path for job in jobs]


def _scored(scorer: Scorer, todo: list[Job], workers: int) -> Iterator[tuple[Job, dict[str, Any]]]:
    """(job, record) as each finishes: references here (they take milliseconds), trainings in workers."""
    trained = [job for job in todo if job.model not in REFERENCES]
    if workers == 1 or len(trained) < 2:
        yield from ((job, scorer.record(job)) for job in todo)
        return
    from neopain.evaluate.workers import score_side_by_side

    yield from ((job, scorer.record(job)) for job in todo if job.model in REFERENCES)
    workers = min(workers, len(trained))
    yield from score_side_by_side(scorer, trained, workers, threads_per_worker(workers))


def _progress(
    scored: Iterable[tuple[Job, dict[str, Any]]], total: int, done: int, show: bool
) -> Iterator[tuple[Job, dict[str, Any]]]:
    """Pass the finished repetitions through, counted on a rich progress bar (earlier ones included)."""
    if not show:
        yield from scored
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("repetitions", total=total, completed=done)
        for job, record in scored:
            bar.update(task, description=f"done: {job.title}")
            yield job, record
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
