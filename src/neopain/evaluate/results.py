"""Per-repetition result records: one JSON file per (protocol, design, model, repeat), written atomically.

A record holds the split's identity, the test predictions (path, y, p) and the metrics at threshold 0.5,
so the report can recompute anything (ROC, calibration, thresholds) without the models. The run's
settings live in ``OUT/evaluation.json``; records carry a fingerprint of them so a resumed run never mixes
results made with other settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.atomic import atomic_write_text

RUN_FILE = "evaluation.json"
RESULTS_DIR = "results"
BASELINE = "baseline"  # the model key of the pixel logistic-regression baseline
ORACLE = "nfcs_oracle"  # the model key of the true NFCS score (where the manifest has one): the labels' ceiling
REFERENCES = (BASELINE, ORACLE)  # reference rows, not CNNs

# Protocol keys (CLI --protocol values) and the words every printed metric carries.
PAPER = "paper"
SUBJECT = "subject"
PROTOCOL_KEYS = (PAPER, SUBJECT)


class ResultsError(ValueError):
    """Saved results are unreadable or were made with other settings; the message names the file."""


def protocol_label(key: str, folds: int = 0) -> str:
    """The protocol's name as every table prints it."""
    if key == PAPER:
        return "image-wise hold-out"
    if key == SUBJECT:
        return f"subject-independent {folds}-fold" if folds else "subject-independent hold-out"
    raise ResultsError(f"unknown protocol '{key}' (expected one of {', '.join(PROTOCOL_KEYS)})")


def design_name(train_on: Sequence[str]) -> str:
    """'icope', 'unifesp', 'icope+unifesp': the training set's column title in Table I."""
    return "+".join(train_on) if train_on else "all"


def fingerprint(data: Any) -> str:
    """Short stable hash of JSON-able data."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None (strict JSON), numpy scalars become Python ones."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to a temp file in the same folder, then rename: never half-written."""
    text = json.dumps(jsonable(data), indent=1, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def _component(name: str) -> str:
    """A dataset or model name as one safe path component."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name) or "_"


def record_path(out_dir: Path, protocol: str, design: str, model: str, repeat: int) -> Path:
    return (
        out_dir
        / RESULTS_DIR
        / protocol
        / _component(design)
        / _component(model)
        / f"repeat_{repeat:02d}.json"
    )


@dataclass(frozen=True)
class Record:
    """One repetition of one model on one split, as read back from disk."""

    protocol: str  # PAPER or SUBJECT
    label: str  # protocol_label(...)
    design: str
    model: str
    repeat: int
    n_train: int
    n_test: int
    paths: tuple[str, ...]
    y: np.ndarray
    p: np.ndarray
    metrics: dict[str, float]
    info: dict[str, Any]
    datasets: tuple[str, ...] = ()  # dataset of each test image; () in records made before it was saved

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "<memory>") -> Record:
        try:
            metrics = {k: math.nan if v is None else float(v) for k, v in data["metrics"].items()}
            return cls(
                data["protocol"],
                data["label"],
                data["design"],
                data["model"],
                int(data["repeat"]),
                int(data["n_train"]),
                int(data["n_test"]),
                tuple(data["test_paths"]),
                np.asarray(data["y"], dtype=np.int64),
                np.asarray(data["p"], dtype=np.float64),
                metrics,
                dict(data.get("info", {})),
                tuple(data.get("test_datasets", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"{where}: not a repetition record ({exc})") from exc


def load_records(out_dir: str | Path) -> list[Record]:
    """Every record under ``OUT/results``, sorted by (protocol, design, model, repeat)."""
    root = Path(out_dir) / RESULTS_DIR
    files = sorted(root.glob("*/*/*/repeat_*.json")) if root.is_dir() else []
    records = [Record.from_dict(read_json(f), str(f)) for f in files]
    return sorted(records, key=lambda r: (PROTOCOL_KEYS.index(r.protocol), r.design, r.model, r.repeat))


def group(records: Iterable[Record]) -> dict[tuple[str, str, str], list[Record]]:
    """Records keyed by (protocol, design, model), repeats in order."""
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for record in records:
        groups.setdefault((record.protocol, record.design, record.model), []).append(record)
    for items in groups.values():
        items.sort(key=lambda r: r.repeat)
    return groups
