"""Head search, as the paper: random search over 1-3 fully connected layers of 50-2048 units (Optuna).

Each trial trains with ``neopain.train.train`` (its own subject-grouped validation split) and reports
the best validation loss. Storage is SQLite in the output folder by default; pass any SQLAlchemy URL
(e.g. ``postgresql://...``) to let several machines work on one study.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from neopain.data import Sample
from neopain.pixels.preprocess import HeadConfig
from neopain.train.checkpoint import write_text
from neopain.train.trainer import TrainConfig, train

log = logging.getLogger(__name__)

SAMPLERS = ("random", "tpe")


def suggest_head(trial: Any, layers: tuple[int, int] = (1, 3), units: tuple[int, int] = (50, 2048),
                 dropout: float = 0.5, l1: float = 5e-4) -> HeadConfig:
    """Draw a head: a layer count, then a width per layer (uniform integers, as a random search)."""
    count = trial.suggest_int("layers", *layers)
    widths = tuple(trial.suggest_int(f"units_{i + 1}", *units) for i in range(count))
    return HeadConfig(units=widths, dropout=dropout, l1=l1)


def make_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got '{name}'")


def default_storage(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'tune.db').resolve()}"


def run_tune(
    samples: Sequence[Sample],
    manifest_file: str | Path,
    model_name: str,
    out_dir: str | Path,
    trials: int,
    config: TrainConfig | None = None,
    sampler: str = "random",
    storage: str | None = None,
    study_name: str | None = None,
    seed: int = 0,
) -> Any:
    """Run ``trials`` more trials of the head search; returns the Optuna study (best: study.best_trial)."""
    import optuna

    base = config or TrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=study_name or f"neopain-head-{model_name}",
        storage=storage or default_storage(out_dir),
        sampler=make_sampler(sampler, seed),
        direction="minimize",
        load_if_exists=True,
    )

    def objective(trial: optuna.Trial) -> float:
        head = suggest_head(trial)
        trial_config = replace(base, head=head, resume=False)
        result = train(samples, manifest_file, model_name, out_dir / f"trial_{trial.number:04d}", trial_config)
        losses = [r.get("val_loss", r["train_loss"]) for r in result.history]
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("units", list(head.units))
        log.info("trial %d: head %s -> best validation loss %.4f", trial.number, head.units, min(losses))
        return float(min(losses))

    study.optimize(objective, n_trials=trials)
    _write_summary(out_dir, study)
    return study


def _write_summary(out_dir: Path, study: Any) -> None:
    best = study.best_trial
    summary = {
        "study": study.study_name,
        "best_value": best.value,
        "best_params": best.params,
        "best_units": best.user_attrs.get("units"),
        "trials": [
            {"number": t.number, "value": t.value, "params": t.params, "state": t.state.name}
            for t in study.trials
        ],
    }
    write_text(out_dir / "tune_summary.json", json.dumps(summary, indent=2) + "\n")
