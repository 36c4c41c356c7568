"""The pixel logistic-regression baseline on tiny written crops: learns a visible cue, not a hidden one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neopain.data.manifest import Sample
from neopain.evaluate import baseline as bl
from neopain.evaluate import metrics as m
from neopain.evaluate import splits as sp
from neopain.pixels.imageio import write_image


def _crops(folder: Path, cue: float, n_subjects: int = 10, per_class: int = 4) -> list[Sample]:
    """Noisy 40x40 crops; pain ones have a mouth patch brighter by ``cue`` grey levels."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(n_subjects):
        for label in ("pain", "no_pain"):
            for i in range(per_class):
                image = rng.normal(120, 25, (40, 40, 3))
                if label == "pain":
                    image[26:34, 12:28] += cue
                name = f"crops/s{s}_{label}_{i}.png"
                write_image(folder / name, np.clip(image, 0, 255).astype(np.uint8))
                rows.append(Sample(name, f"s{s}", "synthetic", label))
    return rows


def _mean_auc(folder: Path, cue: float) -> float:
    samples = _crops(folder, cue)
    features = bl.pixel_features(samples, manifest_file=folder / "faces.csv", size=12)
    assert features.shape == (len(samples), 144) and 0 <= features.min() and features.max() <= 1
    y = sp.targets(samples)
    aucs = []
    for split in sp.subject_kfold(samples, k=5, seed=0):
        p = bl.fit_predict(features, y, split.train, split.test, seed=0)
        assert p.shape == split.test.shape and ((p >= 0) & (p <= 1)).all()
        aucs.append(m.roc_auc(y[split.test], p))
    return float(np.mean(aucs))


def test_baseline_learns_a_visible_cue(tmp_path: Path) -> None:
    assert _mean_auc(tmp_path, cue=60.0) > 0.9


def test_baseline_at_chance_without_a_cue(tmp_path: Path) -> None:
    assert 0.2 < _mean_auc(tmp_path, cue=0.0) < 0.8


def test_baseline_errors(tmp_path: Path) -> None:
    samples = _crops(tmp_path, cue=0.0, n_subjects=2, per_class=2)
    features = bl.pixel_features(samples, manifest_file=tmp_path / "faces.csv", size=8)
    y = sp.targets(samples)
    with pytest.raises(bl.BaselineError, match="one class only"):
        bl.fit_predict(features, y, np.flatnonzero(y == 1), np.flatnonzero(y == 0))
    with pytest.raises(Exception, match="missing.png"):
        bl.pixel_features([Sample("missing.png", "s0")], manifest_file=tmp_path / "faces.csv")


def test_nfcs_oracle_needs_a_score_on_every_row() -> None:
    rows = [Sample(f"c{i}.png", f"s{i}", "synthetic", "pain", nfcs_score=float(i)) for i in range(4)]
    assert bl.nfcs_scores(rows).shape == (4, 1)
    assert bl.nfcs_scores([*rows, Sample("x.png", "s9", "synthetic", "pain")]) is None


def test_nfcs_oracle_reaches_the_ceiling_the_label_noise_leaves() -> None:
    rng = np.random.default_rng(1)
    score = rng.integers(0, 8, 2000).astype(np.float32)
    clean = (score >= 3).astype(int)
    flipped = rng.random(2000) < 0.1
    y = np.where(flipped, 1 - clean, clean)
    train, test = np.arange(1000), np.arange(1000, 2000)
    p = bl.fit_predict(score[:, None], y, train, test, c=1.0)
    assert m.roc_auc(clean[test], p) == pytest.approx(1.0)
    # 10% flips: a perfect reader scores about (0.9 * 0.9 + 0.5 * 2 * 0.9 * 0.1) vs noisy labels.
    assert 0.82 < m.roc_auc(y[test], p) < 0.95
