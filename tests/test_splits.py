"""Splits: disjointness (image- and subject-wise), stratification, reproducibility, every error case."""

from __future__ import annotations

import random

import numpy as np
import pytest

from neopain.data.manifest import Sample
from neopain.evaluate import splits as sp


def _dataset(name: str, subjects: int, seed: int) -> list[Sample]:
    """Subjects with 4-12 images each, both classes, a pain share that varies by subject."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(subjects):
        n = int(rng.integers(4, 13))
        n_pain = int(rng.integers(1, n))
        for i in range(n):
            label = "pain" if i < n_pain else "no_pain"
            rows.append(Sample(f"{name}/S{s:02d}_{i:02d}.png", f"S{s:02d}", name, label))
    return rows


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    # Both datasets use subject ids S00.., which are different babies.
    return _dataset("icope", 27, 0) + _dataset("unifesp", 30, 1)


def _paths(samples: list[Sample], indices: np.ndarray) -> set[str]:
    return {samples[i].path for i in indices}


def _subjects(samples: list[Sample], indices: np.ndarray) -> set[str]:
    return {sp.subject_key(samples[i]) for i in indices}


def _shuffled(samples: list[Sample], seed: int) -> list[Sample]:
    rows = list(samples)
    random.Random(seed).shuffle(rows)
    return rows


def test_paper_holdout_is_stratified_and_disjoint(samples: list[Sample]) -> None:
    splits = sp.paper_holdout(samples, repeats=10, test_size=0.2, seed=3)
    y = sp.targets(samples)
    assert len(splits) == 10 and {s.protocol for s in splits} == {sp.IMAGE_HOLDOUT}
    for split in splits:
        assert not split.subject_independent
        assert len(np.intersect1d(split.train, split.test)) == 0
        assert len(split.train) + len(split.test) == len(samples)
        for c in (0, 1):
            assert abs(np.sum(y[split.test] == c) - 0.2 * np.sum(y == c)) <= 0.5
    assert len({tuple(s.test) for s in splits}) == 10  # each repetition draws anew
    # Image-wise: the same baby is on both sides, which is why the paper's numbers are optimistic.
    assert _subjects(samples, splits[0].train) & _subjects(samples, splits[0].test)


@pytest.mark.parametrize("make", [
    lambda rows: sp.paper_holdout(rows, repeats=3, seed=7),
    lambda rows: sp.subject_holdout(rows, repeats=3, seed=7),
    lambda rows: sp.subject_kfold(rows, k=5, seed=7),
    lambda rows: sp.cross_dataset(rows, ["icope"], mode="subject", repeats=2, seed=7),
    lambda rows: sp.cross_dataset(rows, ["unifesp"], mode="paper", repeats=2, seed=7),
], ids=["paper", "subject", "kfold", "cross-subject", "cross-paper"])
def test_reproducible_from_seed_and_rows_in_any_order(samples: list[Sample], make) -> None:
    first, again, shuffled = make(samples), make(samples), _shuffled(samples, 11)
    other = make(shuffled)
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a.train, b.train)
        np.testing.assert_array_equal(a.test, b.test)
        assert _paths(samples, a.test) == _paths(shuffled, c.test)
        assert _paths(samples, a.train) == _paths(shuffled, c.train)


def test_seed_changes_the_draw(samples: list[Sample]) -> None:
    a = sp.subject_holdout(samples, repeats=1, seed=0)[0]
    b = sp.subject_holdout(samples, repeats=1, seed=1)[0]
    assert _subjects(samples, a.test) != _subjects(samples, b.test)
    fold_a = sp.subject_kfold(samples, k=5, seed=0)[0]
    fold_b = sp.subject_kfold(samples, k=5, seed=1)[0]
    assert _subjects(samples, fold_a.test) != _subjects(samples, fold_b.test)


def test_subject_holdout_never_splits_a_subject(samples: list[Sample]) -> None:
    y = sp.targets(samples)
    for split in sp.subject_holdout(samples, repeats=10, test_size=0.2, seed=5):
        assert split.subject_independent and split.protocol == sp.SUBJECT_HOLDOUT
        assert not _subjects(samples, split.train) & _subjects(samples, split.test)
        assert len(split.train) + len(split.test) == len(samples)
        for c in (0, 1):  # near-stratified: each class held out at about 20%
            share = np.sum(y[split.test] == c) / np.sum(y == c)
            assert 0.15 <= share <= 0.25


def test_same_subject_id_in_two_datasets_is_two_subjects(samples: list[Sample]) -> None:
    assert len(_subjects(samples, np.arange(len(samples)))) == 57  # 27 + 30, not 30
    # Somewhere over the repetitions, icope's S03 and unifesp's S03 land on different sides.
    apart = False
    for split in sp.subject_holdout(samples, repeats=10, seed=2):
        test_ids = _subjects(samples, split.test)
        apart |= ("icope/S03" in test_ids) != ("unifesp/S03" in test_ids)
    assert apart


def test_subject_kfold_covers_every_subject_once(samples: list[Sample]) -> None:
    folds = sp.subject_kfold(samples, k=5, seed=1)
    assert [f.repeat for f in folds] == list(range(5)) and folds[0].protocol == "subject-wise 5-fold"
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(samples)))
    y = sp.targets(samples)
    for fold in folds:
        assert not _subjects(samples, fold.train) & _subjects(samples, fold.test)
        assert abs(len(fold.test) - len(samples) / 5) <= 0.1 * len(samples) / 5
        assert abs(y[fold.test].mean() - y.mean()) < 0.08


def test_cross_dataset_table_one(samples: list[Sample]) -> None:
    designs = sp.cross_dataset_designs(samples)
    assert designs == [("icope",), ("unifesp",), ("icope", "unifesp")]
    by_design = {d: sp.cross_dataset(samples, list(d), mode="subject", repeats=3, seed=4) for d in designs}
    for design, splits in by_design.items():
        for split in splits:
            assert split.train_on == design
            assert {samples[i].dataset for i in split.train} == set(design)
            assert {samples[i].dataset for i in split.test} == {"icope", "unifesp"}  # always tested on both
            assert not _subjects(samples, split.train) & _subjects(samples, split.test)
    for r in range(3):  # one test set per repetition, whatever the training set: paired comparisons
        tests = {tuple(splits[r].test) for splits in by_design.values()}
        assert len(tests) == 1
    both = by_design[("icope", "unifesp")][0]
    assert len(both.train) + len(both.test) == len(samples)


def test_cross_dataset_paper_mode_shares_subjects(samples: list[Sample]) -> None:
    split = sp.cross_dataset(samples, ["icope", "unifesp"], mode="paper", repeats=1, seed=0)[0]
    assert split.protocol == sp.IMAGE_HOLDOUT and not split.subject_independent
    assert _subjects(samples, split.train) & _subjects(samples, split.test)


@pytest.mark.parametrize("by_subject", [True, False])
def test_validation_split_comes_from_train_only(samples: list[Sample], by_subject: bool) -> None:
    split = sp.subject_holdout(samples, repeats=1, seed=0)[0]
    fit, val = sp.validation_split(split.train, samples, fraction=0.25, seed=3, by_subject=by_subject)
    assert set(fit.tolist()) | set(val.tolist()) == set(split.train.tolist())
    assert not set(fit.tolist()) & set(val.tolist())
    assert 0.18 <= len(val) / len(split.train) <= 0.32
    crossing = _subjects(samples, fit) & _subjects(samples, val)
    assert (not crossing) if by_subject else crossing
    shuffled = np.random.default_rng(0).permutation(split.train)
    _, again_val = sp.validation_split(shuffled, samples, fraction=0.25, seed=3, by_subject=by_subject)
    np.testing.assert_array_equal(val, again_val)


def test_check_split_names_the_crossing_subject(samples: list[Sample]) -> None:
    good = sp.subject_holdout(samples, repeats=1, seed=0)[0]
    moved = good.test[0]  # one image of a test subject leaks into training
    bad = sp.Split("leaky", good.protocol, np.sort(np.r_[good.train, moved]), good.test[1:], 0, 0, True)
    leaked = sp.subject_key(samples[moved])
    with pytest.raises(sp.SplitError, match=f"split 'leaky': subject '{leaked}' is in both train and test"):
        sp.check_split(bad, samples)
    overlap = sp.Split("overlap", sp.IMAGE_HOLDOUT, np.array([0, 1]), np.array([1, 2]), 0, 0, False)
    with pytest.raises(sp.SplitError, match="row 1 .* in both parts"):
        sp.check_split(overlap, samples)


def test_error_fewer_subjects_than_folds() -> None:
    rows = _dataset("icope", 3, 0)
    with pytest.raises(sp.SplitError, match="3 subject\\(s\\) cannot make 5 subject-wise folds"):
        sp.subject_kfold(rows, k=5)
    with pytest.raises(sp.SplitError, match="k must be"):
        sp.subject_kfold(rows, k=1)


def test_error_class_absent_from_a_split() -> None:
    # Pain only in one subject: a subject-wise split leaves one side without pain.
    rows = [
        Sample(f"s{s}_{i}.png", f"s{s}", "d", "pain" if s == 0 else "no_pain")
        for s in range(6)
        for i in range(5)
    ]
    with pytest.raises(sp.SplitError, match="class 'pain' is absent from the (train|test) part"):
        sp.subject_kfold(rows, k=3)
    only_pain = [Sample(f"p{i}.png", f"s{i}", "d", "pain") for i in range(10)]
    with pytest.raises(sp.SplitError, match="class 'no_pain' is absent"):
        sp.paper_holdout(only_pain)


def test_error_dataset_missing_for_cross_design(samples: list[Sample]) -> None:
    with pytest.raises(sp.SplitError, match=r"\['ucsf'\] to train on not found"):
        sp.cross_dataset(samples, ["ucsf"])
    icope_only = [s for s in samples if s.dataset == "icope"]
    with pytest.raises(sp.SplitError, match="at least two datasets"):
        sp.cross_dataset(icope_only, ["icope"])
    with pytest.raises(sp.SplitError, match="at least two datasets"):
        sp.cross_dataset_designs(icope_only)
    no_dataset = [s.with_(dataset="") if i == 3 else s for i, s in enumerate(samples)]
    with pytest.raises(sp.SplitError, match="row 3 .*'dataset' is empty"):
        sp.cross_dataset(no_dataset, ["icope"])


def test_error_bad_rows_and_arguments(samples: list[Sample]) -> None:
    unlabelled = [s.with_(label="") if i == 300 else s for i, s in enumerate(samples)]
    with pytest.raises(sp.SplitError, match="row 300 .*'label' is empty"):
        sp.paper_holdout(unlabelled)
    with pytest.raises(sp.SplitError, match="duplicate path 'icope/S00_00.png'"):
        sp.paper_holdout(samples + [samples[0]])
    with pytest.raises(sp.SplitError, match="test_size"):
        sp.subject_holdout(samples, test_size=1.2)
    with pytest.raises(sp.SplitError, match="seed"):
        sp.subject_holdout(samples, seed=-1)
    with pytest.raises(sp.SplitError, match="unknown protocol 'loso'"):
        sp.protocol_splits(samples, "loso")
    one_subject = [s.with_(subject="same") for s in samples[:12]]
    with pytest.raises(sp.SplitError, match="fewer than 2 subjects"):
        sp.validation_split(np.arange(12), one_subject)
    with pytest.raises(sp.SplitError, match="out of range"):
        sp.validation_split([0, len(samples)], samples)


def test_protocol_splits_and_describe(samples: list[Sample]) -> None:
    paper = sp.protocol_splits(samples, "paper", repeats=2, seed=9)
    subject = sp.protocol_splits(samples, "subject", repeats=2, seed=9)
    assert [s.protocol for s in paper + subject] == [sp.IMAGE_HOLDOUT] * 2 + [sp.SUBJECT_HOLDOUT] * 2
    record = subject[1].describe()
    assert record["repeat"] == 1 and record["test"] == subject[1].test.tolist()
