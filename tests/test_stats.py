"""ANOVA and Tukey HSD against scipy / statsmodels; the corrected t-test against its formula by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multicomp import pairwise_tukeyhsd
from statsmodels.stats.multitest import multipletests

from neopain.evaluate import stats as st

# Accuracies of three training sets over 10 repetitions (Table I-like: UNIFESP < iCOPE < both).
SCORES = {
    "unifesp": [0.70, 0.74, 0.69, 0.75, 0.72, 0.71, 0.76, 0.68, 0.73, 0.72],
    "icope": [0.83, 0.81, 0.85, 0.84, 0.80, 0.86, 0.82, 0.83, 0.81, 0.85],
    "both": [0.88, 0.93, 0.85, 0.90, 0.94, 0.86, 0.89, 0.91, 0.84, 0.90],
}


def test_anova_matches_scipy() -> None:
    result = st.one_way_anova(SCORES)
    ref = sps.f_oneway(*SCORES.values())
    assert result.test == st.ANOVA
    assert result.statistic == pytest.approx(ref.statistic)
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert result.df == (2, 27)


def test_anova_equal_means_not_significant() -> None:
    a = np.random.default_rng(0).normal(0.8, 0.02, 8)
    scores = {"a": a, "b": a[::-1] + 0.001, "c": np.roll(a, 3) - 0.001}  # means 0.001 apart, same spread
    result = st.one_way_anova(scores)
    assert result.p_value == pytest.approx(sps.f_oneway(*scores.values()).pvalue)
    assert result.p_value > 0.5


# Close groups, so that the p-values compared are mid-range rather than all ~0.
CLOSE = {
    "a": [0.80, 0.82, 0.79, 0.81, 0.83, 0.78],
    "b": [0.81, 0.84, 0.80, 0.83, 0.82, 0.81],
    "c": [0.83, 0.85, 0.82, 0.84, 0.86, 0.82],
}


@pytest.mark.parametrize("scores", [SCORES, CLOSE], ids=["table1-like", "close"])
def test_tukey_matches_statsmodels(scores: dict[str, list[float]]) -> None:
    values = np.concatenate(list(scores.values()))
    labels = np.repeat(list(scores), [len(v) for v in scores.values()])
    ref = pairwise_tukeyhsd(values, labels, alpha=0.05)
    # statsmodels sorts group names and reports mean(group2) - mean(group1).
    ref_rows = {(a, b): (d, p, lo, hi) for a, b, d, p, lo, hi in zip(
        ref.groupsunique[ref._multicomp.pairindices[0]], ref.groupsunique[ref._multicomp.pairindices[1]],
        ref.meandiffs, ref.pvalues, ref.confint[:, 0], ref.confint[:, 1], strict=True)}
    pairs = st.tukey_hsd(scores)
    assert len(pairs) == 3
    for pair in pairs:
        assert pair.test == st.TUKEY
        if (pair.first, pair.second) in ref_rows:
            d, p, lo, hi = ref_rows[(pair.first, pair.second)]
            sign = -1.0  # ours is first - second, statsmodels' second - first
        else:
            d, p, lo, hi = ref_rows[(pair.second, pair.first)]
            sign = 1.0
        assert pair.difference == pytest.approx(sign * d)
        assert pair.p_value == pytest.approx(p, abs=2e-3)  # statsmodels interpolates its p-value table
        assert sorted((pair.ci_low, pair.ci_high)) == pytest.approx(sorted((sign * lo, sign * hi)), abs=1e-6)


def test_corrected_ttest_by_hand() -> None:
    a = [0.90, 0.88, 0.92, 0.91, 0.87]
    b = [0.85, 0.86, 0.88, 0.84, 0.86]
    d = [0.05, 0.02, 0.04, 0.07, 0.01]
    mean = sum(d) / 5  # 0.038
    var = sum((x - mean) ** 2 for x in d) / 4
    t = mean / math.sqrt((1 / 5 + 20 / 80) * var)
    p = 2 * sps.t.sf(abs(t), 4)
    result = st.corrected_resampled_ttest(a, b, n_train=80, n_test=20, names=("cnn", "baseline"))
    assert result.test == st.CORRECTED_T
    assert (result.first, result.second) == ("cnn", "baseline")
    assert result.difference == pytest.approx(mean)
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(p)
    assert result.df == 4
    naive = sps.ttest_rel(a, b)
    assert result.p_value > naive.pvalue  # the correction only ever widens


def test_corrected_ttest_errors_and_zero_variance() -> None:
    with pytest.raises(st.StatsError, match="equal-length"):
        st.corrected_resampled_ttest([0.1, 0.2], [0.1, 0.2, 0.3], 80, 20)
    with pytest.raises(st.StatsError, match="positive"):
        st.corrected_resampled_ttest([0.1, 0.2], [0.1, 0.3], 0, 20)
    constant = st.corrected_resampled_ttest([0.5, 0.75], [0.25, 0.5], 80, 20)  # exact binary fractions
    assert constant.p_value == 0.0 and "no variance" in constant.note


def test_holm_matches_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.20]
    np.testing.assert_allclose(st.holm(p), multipletests(p, method="holm")[1])


def test_compare_names_every_test() -> None:
    comparison = st.compare(SCORES, n_train=230, n_test=58)
    assert comparison.anova.test == st.ANOVA and comparison.anova.p_value < 0.001
    assert {r.test for r in comparison.tukey} == {st.TUKEY}
    assert {r.test for r in comparison.corrected} == {st.CORRECTED_T}
    raw = [r.p_value for r in comparison.corrected]
    np.testing.assert_allclose([r.p_adjusted for r in comparison.corrected], st.holm(raw))
    with pytest.raises(st.StatsError, match="at least 2 groups"):
        st.one_way_anova({"only": [0.1, 0.2]})
    with pytest.raises(st.StatsError, match="'b'"):
        st.tukey_hsd({"a": [0.1, 0.2], "b": [0.3]})
