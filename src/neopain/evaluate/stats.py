"""Comparing models over repetitions: one-way ANOVA (as the paper), Tukey HSD, Nadeau-Bengio corrected t.

Every result names the test that produced it (``.test``), so a report can say which p-value is which.
Inputs are per-repetition scores of one metric, keyed by model (or training set) name.

Repeated hold-outs share most of their training images, so their scores are not independent: ANOVA and
Tukey (which assume independence) are overconfident here; the corrected resampled t-test of Nadeau and
Bengio (2003) inflates the variance of the paired differences by n_test / n_train to account for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

ANOVA = "one-way ANOVA"
TUKEY = "Tukey HSD"
CORRECTED_T = "Nadeau-Bengio corrected resampled t-test"


class StatsError(ValueError):
    """Scores a test cannot be run on; the message says why."""


@dataclass(frozen=True)
class StatResult:
    """An omnibus test over several groups."""

    test: str
    statistic: float
    p_value: float
    df: tuple[float, ...]
    groups: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class PairResult:
    """One pairwise comparison; ``difference`` is mean(first) - mean(second)."""

    test: str
    first: str
    second: str
    difference: float
    statistic: float
    p_value: float
    p_adjusted: float
    adjustment: str
    ci_low: float
    ci_high: float
    df: float = math.nan
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    anova: StatResult
    tukey: list[PairResult]
    corrected: list[PairResult]


def _clean_groups(scores: Mapping[str, Sequence[float]], minimum: int = 2) -> dict[str, np.ndarray]:
    if len(scores) < 2:
        raise StatsError(f"comparing models needs at least 2 groups, got {list(scores)}")
    groups = {name: np.asarray(v, dtype=np.float64) for name, v in scores.items()}
    for name, values in groups.items():
        if values.ndim != 1 or len(values) < minimum:
            raise StatsError(f"group '{name}' needs at least {minimum} scores, got {values.size}")
        if not np.isfinite(values).all():
            raise StatsError(f"group '{name}' holds NaN or infinite scores")
    return groups


def one_way_anova(scores: Mapping[str, Sequence[float]]) -> StatResult:
    """F = (between-group mean square) / (within-group mean square), df (k-1, N-k)."""
    groups = _clean_groups(scores)
    values = list(groups.values())
    everything = np.concatenate(values)
    k, n = len(values), len(everything)
    between = sum(len(v) * (v.mean() - everything.mean()) ** 2 for v in values)
    within = sum(((v - v.mean()) ** 2).sum() for v in values)
    df_between, df_within = k - 1, n - k
    if within == 0:
        # Identical scores inside every group: F is infinite when the means differ, undefined otherwise.
        f_value = math.inf if between > 0 else math.nan
        p_value = 0.0 if between > 0 else math.nan
        note = "no within-group variance"
    else:
        f_value = (between / df_between) / (within / df_within)
        p_value = float(stats.f.sf(f_value, df_between, df_within))
        note = ""
    return StatResult(ANOVA, float(f_value), p_value, (df_between, df_within), tuple(groups), note)


def tukey_hsd(scores: Mapping[str, Sequence[float]], confidence: float = 0.95) -> list[PairResult]:
    """All pairs, p-values adjusted for the family by the studentized range (scipy.stats.tukey_hsd)."""
    groups = _clean_groups(scores)
    names = list(groups)
    result = stats.tukey_hsd(*groups.values())
    interval = result.confidence_interval(confidence_level=confidence)
    pairs = []
    for i, j in combinations(range(len(names)), 2):
        p = float(result.pvalue[i, j])
        pairs.append(PairResult(
            TUKEY, names[i], names[j], float(result.statistic[i, j]), float(result.statistic[i, j]),
            p, p, "family-wise (studentized range)", float(interval.low[i, j]), float(interval.high[i, j]),
        ))
    return pairs


def corrected_resampled_ttest(
    first: Sequence[float], second: Sequence[float], n_train: float, n_test: float,
    names: tuple[str, str] = ("first", "second"), confidence: float = 0.95,
) -> PairResult:
    """Paired over repetitions: t = mean(d) / sqrt((1/J + n_test/n_train) * var(d)), df = J - 1.

    d are the per-repetition differences (same splits for both models), var has ddof=1, J repetitions.
    For k-fold, n_test / n_train = 1 / (k - 1).
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise StatsError(f"the corrected t-test pairs repetitions: need two equal-length score lists of "
                         f">= 2 repetitions, got {a.size} and {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise StatsError("the corrected t-test got NaN or infinite scores")
    if n_train <= 0 or n_test <= 0:
        raise StatsError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    d = a - b
    j, mean = len(d), float(d.mean())
    se = math.sqrt((1.0 / j + n_test / n_train) * float(d.var(ddof=1)))
    half = float(stats.t.ppf(0.5 + confidence / 2, j - 1)) * se
    if se == 0:
        t, p = (math.nan, math.nan) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
        note = "all differences equal: no variance"
    else:
        t, note = mean / se, ""
        p = float(2 * stats.t.sf(abs(t), j - 1))
    return PairResult(CORRECTED_T, names[0], names[1], mean, t, p, p, "none", mean - half, mean + half,
                      float(j - 1), note)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjustment (family-wise error); NaNs stay NaN and do not count."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def pairwise_corrected_ttests(
    scores: Mapping[str, Sequence[float]], n_train: float, n_test: float
) -> list[PairResult]:
    """The corrected t-test for every pair of models, with Holm-adjusted p-values over the pairs."""
    groups = _clean_groups(scores)
    raw = [
        corrected_resampled_ttest(groups[x], groups[y], n_train, n_test, names=(x, y))
        for x, y in combinations(groups, 2)
    ]
    adjusted = holm([r.p_value for r in raw])
    return [
        PairResult(**{**r.__dict__, "p_adjusted": float(q), "adjustment": "Holm over all pairs"})
        for r, q in zip(raw, adjusted, strict=True)
    ]


def compare(scores: Mapping[str, Sequence[float]], n_train: float, n_test: float) -> Comparison:
    """Everything the report shows for one metric: ANOVA, Tukey HSD and the corrected pairwise t-tests."""
    corrected = pairwise_corrected_ttests(scores, n_train, n_test)
    return Comparison(one_way_anova(scores), tukey_hsd(scores), corrected)
