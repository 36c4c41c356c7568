"""Binary metrics from y_true (0/1, 1 = pain) and p (probability of pain), and their aggregation.

Conventions (see docs/EVALUATION.md):

* a prediction is "pain" when ``p >= threshold`` (0.5 unless given);
* a ratio whose denominator is zero (precision with no predicted pain, sensitivity with no pain in y, ...)
  is NaN, never silently 0;
* metrics that need both classes (ROC AUC, ROC curve, balanced accuracy, the threshold search,
  ``binary_metrics``) raise MetricError when y holds one class only;
* ECE uses ``n_bins`` equal-width bins of p over [0, 1] (last bin closed) and measures the calibration of
  p(pain) itself: sum over bins of (bin size / n) * |fraction of pain in bin - mean p in bin|.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

Values = Sequence[float] | np.ndarray


class MetricError(ValueError):
    """Inputs a metric cannot be computed on; the message says which and why."""


@dataclass(frozen=True)
class Confusion:
    tn: int
    fp: int
    fn: int
    tp: int

    def as_array(self) -> np.ndarray:
        """[[tn, fp], [fn, tp]]: rows true class, columns predicted, as scikit-learn orders it."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]], dtype=np.int64)


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    sensitivity: float
    specificity: float
    target: float


@dataclass(frozen=True)
class Summary:
    """Mean, sample sd and a t-based confidence interval of one metric over repetitions."""

    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n: int
    method: str

    def mean_sd(self, percent: bool = False, digits: int = 2) -> str:
        """'0.86 ± 0.05', or '89% ± 4%' with percent=True (Table I's shape)."""
        if percent:
            return f"{self.mean * 100:.{max(digits - 2, 0)}f}% ± {self.sd * 100:.{max(digits - 2, 0)}f}%"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


def check_inputs(y_true: Values, p: Values) -> tuple[np.ndarray, np.ndarray]:
    """Validated copies: y as int 0/1, p as float in [0, 1], same non-zero length."""
    y = np.asarray(y_true)
    prob = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or prob.ndim != 1 or len(y) != len(prob):
        raise MetricError(f"y_true and p must be 1-D of the same length, got {y.shape} and {prob.shape}")
    if len(y) == 0:
        raise MetricError("no predictions to score")
    if not np.isin(y, (0, 1)).all():
        found = sorted(set(y.tolist()))[:5]
        raise MetricError(f"y_true must hold 0 (no pain) and 1 (pain) only, found {found}")
    if not np.isfinite(prob).all() or prob.min() < 0 or prob.max() > 1:
        raise MetricError("p must hold probabilities in [0, 1] (no NaN)")
    return y.astype(np.int64), prob


def _require_both_classes(y: np.ndarray, what: str) -> None:
    if y.min() == y.max():
        present = "pain" if y[0] == 1 else "no_pain"
        raise MetricError(f"{what} needs both classes, but y_true holds only '{present}'")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def confusion(y_true: Values, p: Values, threshold: float = 0.5) -> Confusion:
    y, prob = check_inputs(y_true, p)
    pred = prob >= threshold
    return Confusion(
        tn=int(np.sum(~pred & (y == 0))),
        fp=int(np.sum(pred & (y == 0))),
        fn=int(np.sum(~pred & (y == 1))),
        tp=int(np.sum(pred & (y == 1))),
    )


def accuracy(c: Confusion) -> float:
    return _ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn)


def precision(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fp)


def sensitivity(c: Confusion) -> float:
    """Recall of pain: the share of pain images called pain."""
    return _ratio(c.tp, c.tp + c.fn)


def specificity(c: Confusion) -> float:
    return _ratio(c.tn, c.tn + c.fp)


def f1(c: Confusion) -> float:
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def balanced_accuracy(c: Confusion) -> float:
    return (sensitivity(c) + specificity(c)) / 2


def brier(y_true: Values, p: Values) -> float:
    y, prob = check_inputs(y_true, p)
    return float(np.mean((prob - y) ** 2))


def roc_curve(y_true: Values, p: Values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, highest first, starting at (0, 0) with threshold inf.

    The same points as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    y, prob = check_inputs(y_true, p)
    _require_both_classes(y, "the ROC curve")
    order = np.argsort(-prob, kind="mergesort")
    scores, ordered = prob[order], y[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(ordered)[last_of_each_score]
    fps = last_of_each_score + 1 - tps
    tpr = np.r_[0, tps] / tps[-1]
    fpr = np.r_[0, fps] / fps[-1]
    return fpr, tpr, np.r_[np.inf, scores[last_of_each_score]]


def roc_auc(y_true: Values, p: Values) -> float:
    fpr, tpr, _ = roc_curve(y_true, p)
    return float(np.trapezoid(tpr, fpr))


def calibration_bins(y_true: Values, p: Values, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Per equal-width bin of p: edges, count, mean p and fraction of pain (NaN in empty bins)."""
    y, prob = check_inputs(y_true, p)
    if n_bins < 1:
        raise MetricError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # p == 1.0 belongs to the last bin, so the last bin is closed on the right.
    bin_of = np.minimum((prob * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bin_of, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(bin_of, weights=prob, minlength=n_bins) / count
        frac_pain = np.bincount(bin_of, weights=y, minlength=n_bins) / count
    return {"edges": edges, "count": count, "mean_p": mean_p, "fraction_pain": frac_pain}


def expected_calibration_error(y_true: Values, p: Values, n_bins: int = 10) -> float:
    bins = calibration_bins(y_true, p, n_bins)
    used = bins["count"] > 0
    weights = bins["count"][used] / bins["count"].sum()
    return float(np.sum(weights * np.abs(bins["fraction_pain"][used] - bins["mean_p"][used])))


def threshold_for_sensitivity(y_true: Values, p: Values, target: float = 0.95) -> ThresholdChoice:
    """The highest threshold whose sensitivity reaches ``target``, and the specificity it leaves.

    Missing pain is the costly error, so sensitivity is fixed first; among the thresholds that reach it the
    highest one gives the best specificity. Candidates are the pain images' scores.
    """
    y, prob = check_inputs(y_true, p)
    _require_both_classes(y, "the threshold search")
    if not 0.0 < target <= 1.0:
        raise MetricError(f"target sensitivity must be in (0, 1], got {target}")
    pain_scores = np.sort(prob[y == 1])[::-1]
    # The tolerance keeps 0.95 * 20 = 19.000000000000004 from demanding a 20th image.
    needed = math.ceil(target * len(pain_scores) - 1e-9)
    threshold = float(pain_scores[needed - 1])
    c = confusion(y, prob, threshold)
    return ThresholdChoice(threshold, sensitivity(c), specificity(c), target)


def binary_metrics(y_true: Values, p: Values, threshold: float = 0.5, n_bins: int = 10) -> dict[str, float]:
    """Every scalar metric of one test set, keyed by name (METRIC_NAMES order)."""
    y, prob = check_inputs(y_true, p)
    _require_both_classes(y, "binary_metrics")
    c = confusion(y, prob, threshold)
    return {
        "accuracy": accuracy(c),
        "precision": precision(c),
        "sensitivity": sensitivity(c),
        "specificity": specificity(c),
        "f1": f1(c),
        "roc_auc": roc_auc(y, prob),
        "balanced_accuracy": balanced_accuracy(c),
        "brier": brier(y, prob),
        "ece": expected_calibration_error(y, prob, n_bins),
    }


METRIC_NAMES = (
    "accuracy", "precision", "sensitivity", "specificity", "f1",
    "roc_auc", "balanced_accuracy", "brier", "ece",
)


def summarize(values: Values, confidence: float = 0.95, test_train_ratio: float | None = None) -> Summary:
    """Mean, sd (ddof=1) and CI = mean ± t(confidence, n-1) * se over repetitions, NaNs dropped.

    Plain se = sd / sqrt(n) treats repetitions as independent, which overlapping training sets are not,
    so the interval is too narrow; with ``test_train_ratio`` (n_test / n_train) the Nadeau-Bengio
    corrected se = sd * sqrt(1/n + n_test/n_train) is used instead. With n < 2, sd and the CI are NaN.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    n = len(v)
    method = "t" if test_train_ratio is None else "t, Nadeau-Bengio corrected"
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0, method)
    mean = float(v.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, math.nan, n, method)
    sd = float(v.std(ddof=1))
    spread = 1.0 / n + (test_train_ratio if test_train_ratio is not None else 0.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd * math.sqrt(spread)
    return Summary(mean, sd, mean - half, mean + half, n, method)


def aggregate(runs: Sequence[Mapping[str, float]], confidence: float = 0.95,
              test_train_ratio: float | None = None) -> dict[str, Summary]:
    """Summary per metric over repetitions (each run a ``binary_metrics`` dict)."""
    if not runs:
        raise MetricError("no repetitions to aggregate")
    names = list(runs[0])
    for i, run in enumerate(runs):
        if list(run) != names:
            raise MetricError(f"repetition {i} has metrics {sorted(run)}, expected {sorted(names)}")
    return {name: summarize([run[name] for run in runs], confidence, test_train_ratio) for name in names}
