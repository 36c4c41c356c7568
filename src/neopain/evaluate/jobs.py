"""What one evaluation runs: its settings, its repetitions (jobs), and how one repetition is trained and
scored into its record. Imports torch (through ``neopain.train``)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neopain.data import Sample
from neopain.evaluate import baseline as bl
from neopain.evaluate.metrics import binary_metrics
from neopain.evaluate.nfcs import nfcs_predictions
from neopain.evaluate.results import BASELINE, ORACLE, PAPER, SUBJECT
from neopain.evaluate.segments import segment_metrics
from neopain.evaluate.splits import Split, subject_key, targets
from neopain.train import TrainConfig, TrainResult

Trainer = Callable[..., TrainResult]  # the signature of neopain.train.train


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



class Scorer:
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
