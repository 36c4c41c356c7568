"""Metrics against scikit-learn on fixed vectors, ECE by hand, the sensitivity threshold search, CIs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from neopain.evaluate import metrics as m


def _vectors(seed: int, n: int = 200, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, n), 0, 1)
    return y, (np.round(p, 1) if ties else p)


@pytest.mark.parametrize(
    "seed,ties,threshold", [(0, False, 0.5), (1, True, 0.5), (2, False, 0.3), (3, True, 0.7)]
)
def test_metrics_match_sklearn(seed: int, ties: bool, threshold: float) -> None:
    y, p = _vectors(seed, ties=ties)
    pred = (p >= threshold).astype(int)
    got = m.binary_metrics(y, p, threshold=threshold)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert got["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert got["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert list(got) == list(m.METRIC_NAMES)
    np.testing.assert_array_equal(m.confusion(y, p, threshold).as_array(), skm.confusion_matrix(y, pred))


@pytest.mark.parametrize("seed,ties", [(4, False), (5, True)])
def test_roc_curve_matches_sklearn(seed: int, ties: bool) -> None:
    y, p = _vectors(seed, n=60, ties=ties)
    fpr, tpr, thresholds = m.roc_curve(y, p)
    ref_fpr, ref_tpr, ref_thr = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thresholds[1:], ref_thr[1:])
    assert math.isinf(thresholds[0])


def test_ece_hand_computed() -> None:
    # 4 bins of width 0.25. Bin [0,.25): p .1 .2, y 0 1 -> |0.5 - 0.15| = 0.35, weight 2/6.
    # Bin [.5,.75): p .6, y 1 -> |1 - 0.6| = 0.4, weight 1/6. Bin [.75,1]: p .8 .9 1.0, y 1 1 0
    # -> |2/3 - 0.9| = 0.2333.., weight 3/6. Bin [.25,.5) is empty and does not count.
    y = [0, 1, 1, 1, 1, 0]
    p = [0.1, 0.2, 0.6, 0.8, 0.9, 1.0]
    expected = 2 / 6 * 0.35 + 1 / 6 * 0.4 + 3 / 6 * abs(2 / 3 - 0.9)
    assert m.expected_calibration_error(y, p, n_bins=4) == pytest.approx(expected)
    bins = m.calibration_bins(y, p, n_bins=4)
    np.testing.assert_array_equal(bins["count"], [2, 0, 1, 3])
    assert math.isnan(bins["mean_p"][1])


def test_ece_zero_when_perfectly_calibrated() -> None:
    # Per bin, the fraction of pain equals the mean probability exactly.
    y = [0, 0, 0, 1] + [1, 1, 1, 0]
    p = [0.25] * 4 + [0.75] * 4
    assert m.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.0)


def test_threshold_hand_example() -> None:
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.4, 0.3, 0.6, 0.35, 0.2, 0.1]
    choice = m.threshold_for_sensitivity(y, p, target=0.75)  # 3 of 4 pain images: threshold 0.4
    assert choice.threshold == pytest.approx(0.4)
    assert choice.sensitivity == pytest.approx(0.75)
    assert choice.specificity == pytest.approx(0.75)  # 0.6 is a false alarm
    full = m.threshold_for_sensitivity(y, p, target=1.0)
    assert (full.threshold, full.sensitivity, full.specificity) == pytest.approx((0.3, 1.0, 0.5))


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 1.0])
def test_threshold_is_the_best_one_reaching_target(target: float) -> None:
    y, p = _vectors(6, n=120, ties=True)
    choice = m.threshold_for_sensitivity(y, p, target)
    assert choice.sensitivity >= target
    # Brute force: no candidate threshold with sensitivity >= target has a higher specificity.
    for t in np.unique(p):
        c = m.confusion(y, p, t)
        if m.sensitivity(c) >= target:
            assert m.specificity(c) <= choice.specificity + 1e-12


def test_threshold_exact_sensitivity_no_float_trap() -> None:
    y = np.r_[np.ones(20, int), np.zeros(5, int)]
    p = np.r_[np.linspace(0.99, 0.05, 20), np.full(5, 0.5)]
    choice = m.threshold_for_sensitivity(y, p, 0.95)  # 19 of 20, not all 20
    assert choice.sensitivity == pytest.approx(0.95)
    assert choice.threshold == pytest.approx(p[18])


def test_degenerate_inputs() -> None:
    with pytest.raises(m.MetricError, match="only 'pain'"):
        m.roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(m.MetricError, match="only 'no_pain'"):
        m.binary_metrics([0, 0], [0.2, 0.5])
    with pytest.raises(m.MetricError, match="same length"):
        m.brier([0, 1], [0.5])
    with pytest.raises(m.MetricError, match=r"\[0, 1\]"):
        m.brier([0, 1], [0.5, 1.5])
    with pytest.raises(m.MetricError, match="0 \\(no pain\\) and 1"):
        m.brier([0, 2], [0.5, 0.5])
    c = m.confusion([0, 1, 1], [0.1, 0.2, 0.3])  # nothing predicted pain
    assert math.isnan(m.precision(c)) and m.sensitivity(c) == 0.0


def test_summarize_t_interval_by_hand() -> None:
    t_975_4 = 2.7764451051977987  # t quantile, 4 degrees of freedom, from tables
    s = m.summarize([1.0, 2.0, 3.0, 4.0, 5.0, float("nan")])
    assert (s.mean, s.sd, s.n) == pytest.approx((3.0, math.sqrt(2.5), 5))
    half = t_975_4 * math.sqrt(2.5) / math.sqrt(5)
    assert (s.ci_low, s.ci_high) == pytest.approx((3 - half, 3 + half))
    corrected = m.summarize([1.0, 2.0, 3.0, 4.0, 5.0], test_train_ratio=0.25)
    half_c = t_975_4 * math.sqrt(2.5) * math.sqrt(1 / 5 + 0.25)
    assert corrected.ci_high == pytest.approx(3 + half_c)
    assert "corrected" in corrected.method
    single = m.summarize([0.7])
    assert single.mean == 0.7 and math.isnan(single.sd)


def test_aggregate_and_format() -> None:
    runs = [m.binary_metrics(*_vectors(seed, n=80)) for seed in range(5)]
    summary = m.aggregate(runs)
    assert summary["roc_auc"].mean == pytest.approx(np.mean([r["roc_auc"] for r in runs]))
    assert summary["accuracy"].sd == pytest.approx(np.std([r["accuracy"] for r in runs], ddof=1))
    assert m.Summary(0.891, 0.04, 0, 1, 10, "t").mean_sd(percent=True) == "89% ± 4%"
    assert m.Summary(0.861, 0.049, 0, 1, 10, "t").mean_sd() == "0.86 ± 0.05"
    with pytest.raises(m.MetricError, match="repetition 1"):
        m.aggregate([{"a": 1.0}, {"b": 2.0}])
