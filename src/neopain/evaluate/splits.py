"""Train/test splits: the paper's image-wise hold-out, subject-wise hold-out and k-fold, cross-dataset.

Every split is a pure function of (seed, manifest rows): rows are put in a canonical order (by path) before
any random draw, so shuffling the input rows changes the index numbers but never which images land where.
A "unit" is what is assigned to one side as a whole: an image (image-wise) or a subject (subject-wise).
Subjects are keyed by ``dataset/subject`` so that "S01" of two datasets are two babies.
All generators return lists, built and checked eagerly, so an impossible protocol fails before training.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neopain.data import Sample
from neopain.scales.nfcs import LABELS

IMAGE_HOLDOUT = "image-wise hold-out"
SUBJECT_HOLDOUT = "subject-wise hold-out"
SUBJECT_KFOLD = "subject-wise k-fold"
MODES = ("paper", "subject")  # paper: image-wise (same baby in train and test); subject: honest

# Fixed stream ids keep the draws of different generators independent for the same seed.
_VALIDATION_STREAM = 0x7A11D
_KFOLD_STREAM = 0x6F01D


class SplitError(ValueError):
    """A protocol cannot be run on these samples; the message says why."""


@dataclass(frozen=True, eq=False)
class Split:
    """One train/test split: indices into the samples list it was made from."""

    name: str
    protocol: str
    train: np.ndarray
    test: np.ndarray
    seed: int
    repeat: int  # repetition or fold number, from 0
    subject_independent: bool
    train_on: tuple[str, ...] = ()  # datasets trained on (cross-dataset design); empty = all

    def describe(self) -> dict[str, object]:
        """A JSON-friendly record (indices as lists) for saving next to a repetition's results."""
        return {
            "name": self.name,
            "protocol": self.protocol,
            "seed": self.seed,
            "repeat": self.repeat,
            "subject_independent": self.subject_independent,
            "train_on": list(self.train_on),
            "train": self.train.tolist(),
            "test": self.test.tolist(),
        }


def subject_key(sample: Sample) -> str:
    return f"{sample.dataset}/{sample.subject}" if sample.dataset else sample.subject


def targets(samples: Sequence[Sample]) -> np.ndarray:
    """0/1 targets (1 = pain); every row must carry a label."""
    for row, sample in enumerate(samples):
        if not sample.is_labelled:
            raise SplitError(
                f"row {row} ('{sample.path}'): field 'label' is empty; keep only the binary task "
                "(neopain.data.manifest.binary_task) before splitting"
            )
    return np.array([s.target for s in samples], dtype=np.int64)


def canonical_order(samples: Sequence[Sample], rows: np.ndarray | None = None) -> np.ndarray:
    """Input indices (all, or ``rows``) sorted by path, the stable key every draw is made on.

    Also checks the labels, so every protocol fails on an unlabelled row before drawing anything.
    """
    targets(samples)
    paths = [s.path for s in samples]
    chosen = range(len(paths)) if rows is None else rows.tolist()
    order = np.array(sorted(chosen, key=paths.__getitem__), dtype=np.int64)
    for a, b in itertools.pairwise(order):
        if paths[a] == paths[b]:
            raise SplitError(f"rows {a} and {b}: duplicate path '{paths[a]}'; splits need one row per image")
    return order


def _rng(seed: int, *stream: int) -> np.random.Generator:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SplitError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), *stream])


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise SplitError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def _check_count(name: str, value: int, minimum: int) -> None:
    if int(value) != value or value < minimum:
        raise SplitError(f"{name} must be an integer >= {minimum}, got {value}")


def _units(samples: Sequence[Sample], rows: np.ndarray, by_subject: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unit id of each row (units sorted by name) and the per-unit class counts, shape (units, 2)."""
    keys = [subject_key(samples[r]) if by_subject else samples[r].path for r in rows]
    _, unit_of_row = np.unique(np.array(keys, dtype=str), return_inverse=True)
    counts = np.zeros((unit_of_row.max(initial=-1) + 1, len(LABELS)), dtype=np.int64)
    np.add.at(counts, (unit_of_row, [samples[r].target for r in rows]), 1)
    return unit_of_row, counts


def _greedy_holdout(counts: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Pick units in random order while each one brings the held-out class counts closer to the target.

    With single images as units this is a stratified random hold-out; with subjects it keeps the
    held-out part near ``fraction`` of each class without ever splitting a subject.
    """
    target = counts.sum(axis=0) * fraction
    taken = np.zeros(counts.shape[1])
    chosen = np.zeros(len(counts), dtype=bool)
    for unit in rng.permutation(len(counts)):
        if np.abs(taken + counts[unit] - target).sum() < np.abs(taken - target).sum():
            chosen[unit] = True
            taken += counts[unit]
    return chosen


def _greedy_folds(counts: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """Fold of each unit: largest units first (random among equals), each to the fold it unbalances least."""
    target = counts.sum(axis=0) / k
    fold_counts = np.zeros((k, counts.shape[1]))
    order = rng.permutation(len(counts))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    fold_of = np.empty(len(counts), dtype=np.int64)
    for unit in order:
        cost = ((fold_counts + counts[unit] - target) ** 2 - (fold_counts - target) ** 2).sum(axis=1)
        fold_of[unit] = int(np.argmin(cost))
        fold_counts[fold_of[unit]] += counts[unit]
    return fold_of


def check_split(split: Split, samples: Sequence[Sample]) -> None:
    """Raise SplitError unless both parts are disjoint and hold both classes, with no shared subject
    in the subject-wise modes."""
    train, test = split.train, split.test
    y = targets(samples)
    if len(train) == 0 or len(test) == 0:
        raise SplitError(f"split '{split.name}': the {'train' if len(train) == 0 else 'test'} part is empty")
    shared = np.intersect1d(train, test)
    if len(shared):
        row = shared[0]
        raise SplitError(f"split '{split.name}': row {row} ('{samples[row].path}') is in both parts")
    for part, rows in (("train", train), ("test", test)):
        present = set(y[rows].tolist())
        for index, label in enumerate(LABELS):
            if index not in present:
                raise SplitError(
                    f"split '{split.name}': class '{label}' is absent from the {part} part "
                    f"({len(rows)} images); use fewer folds, a larger test_size or more data"
                )
    if split.subject_independent:
        crossing = sorted({subject_key(samples[r]) for r in train} & {subject_key(samples[r]) for r in test})
        if crossing:
            raise SplitError(
                f"split '{split.name}': subject '{crossing[0]}' is in both train and test "
                f"({len(crossing)} subject(s) cross the split)"
            )


def _holdout_rows(
    samples: Sequence[Sample], rows: np.ndarray, by_subject: bool, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) input indices among ``rows`` (given in canonical order)."""
    unit_of_row, counts = _units(samples, rows, by_subject)
    held = _greedy_holdout(counts, rng, fraction)[unit_of_row]
    return np.sort(rows[~held]), np.sort(rows[held])


def _repeated_holdout(
    samples: Sequence[Sample], repeats: int, test_size: float, seed: int, by_subject: bool
) -> list[Split]:
    _check_count("repeats", repeats, 1)
    _check_fraction("test_size", test_size)
    rows = canonical_order(samples)
    protocol = SUBJECT_HOLDOUT if by_subject else IMAGE_HOLDOUT
    splits = []
    for r in range(repeats):
        train, test = _holdout_rows(samples, rows, by_subject, test_size, _rng(seed, r))
        split = Split(f"{protocol} {r + 1}/{repeats}", protocol, train, test, seed, r, by_subject)
        check_split(split, samples)
        splits.append(split)
    return splits


def paper_holdout(
    samples: Sequence[Sample], repeats: int = 10, test_size: float = 0.2, seed: int = 0
) -> list[Split]:
    """The paper's protocol: repeated stratified random hold-out of images (a baby may be on both sides)."""
    return _repeated_holdout(samples, repeats, test_size, seed, by_subject=False)


def subject_holdout(
    samples: Sequence[Sample], repeats: int = 10, test_size: float = 0.2, seed: int = 0
) -> list[Split]:
    """Repeated hold-out of whole subjects, near-stratified by class; no subject on both sides."""
    return _repeated_holdout(samples, repeats, test_size, seed, by_subject=True)


def subject_kfold(samples: Sequence[Sample], k: int = 5, seed: int = 0) -> list[Split]:
    """k folds of whole subjects, balanced in size and class; each fold is the test part once."""
    _check_count("k", k, 2)
    rows = canonical_order(samples)
    unit_of_row, counts = _units(samples, rows, by_subject=True)
    if len(counts) < k:
        n = len(counts)
        raise SplitError(f"{n} subject(s) cannot make {k} subject-wise folds; use k <= {n}")
    fold_of_row = _greedy_folds(counts, _rng(seed, _KFOLD_STREAM), k)[unit_of_row]
    protocol = SUBJECT_KFOLD.replace("k-fold", f"{k}-fold")
    splits = []
    for fold in range(k):
        train, test = np.sort(rows[fold_of_row != fold]), np.sort(rows[fold_of_row == fold])
        split = Split(f"{protocol} {fold + 1}/{k}", protocol, train, test, seed, fold, True)
        check_split(split, samples)
        splits.append(split)
    return splits


def protocol_splits(
    samples: Sequence[Sample], mode: str, repeats: int = 10, test_size: float = 0.2, seed: int = 0
) -> list[Split]:
    """Repeated hold-out for a CLI mode: 'paper' (image-wise) or 'subject' (subject-wise)."""
    if mode not in MODES:
        raise SplitError(f"unknown protocol '{mode}' (expected one of {', '.join(MODES)})")
    return _repeated_holdout(samples, repeats, test_size, seed, by_subject=mode == "subject")


def _datasets(samples: Sequence[Sample]) -> list[str]:
    for row, sample in enumerate(samples):
        if not sample.dataset:
            raise SplitError(f"row {row} ('{sample.path}'): field 'dataset' is empty; the cross-dataset "
                             "design needs every row's dataset")
    return sorted({s.dataset for s in samples})


def cross_dataset_designs(samples: Sequence[Sample]) -> list[tuple[str, ...]]:
    """Table I's training sets: each dataset alone, then all together."""
    names = _datasets(samples)
    if len(names) < 2:
        raise SplitError(f"the cross-dataset design needs at least two datasets, found {names or 'none'}")
    return [(name,) for name in names] + [tuple(names)]


def cross_dataset(
    samples: Sequence[Sample],
    train_on: Sequence[str],
    mode: str = "subject",
    repeats: int = 10,
    test_size: float = 0.2,
    seed: int = 0,
) -> list[Split]:
    """Table I: train on the datasets in ``train_on``, test on every dataset.

    Each dataset is held out on its own (``test_size`` of it, image- or subject-wise by ``mode``); the test
    part is the union of those held-out parts and does not depend on ``train_on``, so the training sets of
    one repetition are compared on the same test images. Training uses the kept parts of ``train_on`` only.
    """
    if mode not in MODES:
        raise SplitError(f"unknown protocol '{mode}' (expected one of {', '.join(MODES)})")
    _check_count("repeats", repeats, 1)
    _check_fraction("test_size", test_size)
    names = _datasets(samples)
    wanted = tuple(sorted(set(train_on)))
    missing = [d for d in wanted if d not in names]
    if not wanted or missing:
        raise SplitError(f"cross-dataset design: dataset(s) {missing or 'none'} to train on not found "
                         f"among {names}")
    if len(names) < 2:
        raise SplitError(f"the cross-dataset design needs at least two datasets to test on, found {names}")
    by_subject = mode == "subject"
    rows = canonical_order(samples)
    dataset_of = np.array([samples[r].dataset for r in rows])
    protocol = SUBJECT_HOLDOUT if by_subject else IMAGE_HOLDOUT
    splits = []
    for r in range(repeats):
        train_parts, test_parts = [], []
        for name in names:
            rng = _rng(seed, r, zlib.crc32(name.encode()))
            kept, held = _holdout_rows(samples, rows[dataset_of == name], by_subject, test_size, rng)
            if len(held) == 0:
                # Table I tests on every dataset; a dataset too small for test_size would silently drop out.
                raise SplitError(f"cross-dataset design, repetition {r + 1}: nothing of dataset '{name}' is held "
                                 f"out at test_size {test_size}; use a larger test_size or more subjects")
            test_parts.append(held)
            if name in wanted:
                train_parts.append(kept)
        train, test = np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(test_parts))
        label = f"train on {'+'.join(wanted)}, {protocol} {r + 1}/{repeats}"
        split = Split(label, protocol, train, test, seed, r, by_subject, wanted)
        check_split(split, samples)
        splits.append(split)
    return splits


def cross_dataset_kfold(
    samples: Sequence[Sample], train_on: tuple[str, ...], k: int, seed: int
) -> list[Split]:
    """k subject-wise folds drawn in each dataset; fold i tests on every dataset's fold i, trains on
    the other folds of ``train_on`` only (paired across designs, as ``cross_dataset``)."""
    names = _datasets(samples)
    train_on = tuple(sorted(set(train_on)))
    missing = [d for d in train_on if d not in names]
    if not train_on or missing:
        raise SplitError(
            f"cross-dataset design: dataset(s) {missing or 'none'} to train on not found among {names}"
        )
    per_dataset = []
    for name in names:
        rows = np.array([i for i, s in enumerate(samples) if s.dataset == name], dtype=np.int64)
        try:
            folds = subject_kfold([samples[i] for i in rows], k, seed)
        except SplitError as exc:
            raise SplitError(f"dataset '{name}': {exc}") from exc
        per_dataset.append((name, rows, folds))
    tag = f"subject-wise {k}-fold"
    splits = []
    for fold in range(k):
        test = np.sort(np.concatenate([rows[f[fold].test] for _, rows, f in per_dataset]))
        train = np.sort(np.concatenate([rows[f[fold].train] for n, rows, f in per_dataset if n in train_on]))
        label = f"train on {'+'.join(train_on)}, {tag} {fold + 1}/{k}"
        split = Split(label, tag, train, test, seed, fold, True, tuple(train_on))
        check_split(split, samples)
        splits.append(split)
    return splits


def validation_split(
    train_indices: Sequence[int] | np.ndarray,
    samples: Sequence[Sample],
    fraction: float = 0.2,
    seed: int = 0,
    by_subject: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices carved from the training part only, whole subjects by default."""
    _check_fraction("fraction", fraction)
    train = np.unique(np.asarray(train_indices, dtype=np.int64))
    if len(train) != len(train_indices):
        raise SplitError("validation_split: train_indices holds a row twice")
    if len(train) and (train[0] < 0 or train[-1] >= len(samples)):
        raise SplitError(f"validation_split: train_indices out of range for {len(samples)} samples")
    rows = canonical_order(samples, train)
    if by_subject and len({subject_key(samples[i]) for i in rows}) < 2:
        raise SplitError("validation_split: the training part holds fewer than 2 subjects; "
                         "pass by_subject=False to hold out images instead")
    fit, val = _holdout_rows(samples, rows, by_subject, fraction, _rng(seed, _VALIDATION_STREAM))
    check_split(Split("validation (its test part)", "validation", fit, val, seed, 0, by_subject), samples)
    return fit, val
