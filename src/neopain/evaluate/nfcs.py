"""NFCS coding, evaluated against the truth each repetition saved: per action AUC, F1, sensitivity and
specificity; the version's score (MAE, quadratic-weighted kappa, ICC) and pain read from it by the
NFCS rule, beside the direct pain head. Every number belongs to one protocol's repetitions.

An action a test row does not code (truth None) is left out of that action's metrics, never scored as
absent; the score is compared only on rows that code every action of the version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neopain.data import Sample
from neopain.evaluate.metrics import Summary, confusion, f1, roc_auc, sensitivity, specificity, summarize
from neopain.scales.nfcs import PRESENT_AT, nfcs_version

# Agreement of professionals coding NFCS (inter-rater kappa, BrJP 2021): the human reference line.
HUMAN_KAPPA = 0.60
ACTION_METRICS = ("roc_auc", "f1", "sensitivity", "specificity")
SCORE_METRICS = ("score_mae", "score_kappa", "score_icc", "count_mae", "rule_auc", "rule_sensitivity",
                 "rule_specificity")


def _nullable(values: Sequence[float]) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values]


def nfcs_predictions(model: Any, images: Any, runtime: Any, test: Sequence[Sample]) -> dict[str, Any]:
    """An NFCS model's action probabilities and count on the test faces, with their truth (None where a
    row does not code it), saved in each repetition's record."""
    from neopain.train import nfcs_targets, predict_nfcs

    probabilities, counts = predict_nfcs(model, images, runtime)
    actions = list(model.cfg.actions)
    truth = nfcs_targets(test, actions, "test set")
    return {
        "actions": actions,
        "version": model.cfg.nfcs_version,
        "p_actions": probabilities.numpy().astype(np.float64).round(6).tolist(),
        "count": counts.numpy().astype(np.float64).round(4).tolist(),
        "truth_actions": [_nullable(row) for row in truth[:, :-1]],
        "truth_score": _nullable(truth[:, -1]),
    }


def _action_metrics(truth: np.ndarray, p: np.ndarray) -> dict[str, float]:
    known = ~np.isnan(truth)
    y, q = truth[known].astype(np.int64), p[known]
    if len(y) == 0 or len(set(y.tolist())) < 2:
        return dict.fromkeys(ACTION_METRICS, math.nan)
    c = confusion(y, q, PRESENT_AT)
    return {"roc_auc": roc_auc(y, q), "f1": f1(c), "sensitivity": sensitivity(c), "specificity": specificity(c)}


def quadratic_kappa(a: np.ndarray, b: np.ndarray, levels: int) -> float:
    """Cohen's kappa with quadratic weights between two integer ratings in 0..levels-1."""
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2 or (len(set(a.tolist())) < 2 and len(set(b.tolist())) < 2):
        return math.nan
    return float(cohen_kappa_score(a, b, weights="quadratic", labels=list(range(levels))))


def icc_a1(ratings: np.ndarray) -> float:
    """ICC(2,1) of Shrout & Fleiss 1979 (two-way random, absolute agreement, single rating) of an
    n subjects x k raters table."""
    x = np.asarray(ratings, np.float64)
    n, k = x.shape
    if n < 2:
        return math.nan
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows, ms_cols = ss_rows / (n - 1), ss_cols / (k - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    return float((ms_rows - ms_error) / denominator) if denominator > 0 else math.nan


def _score_metrics(nfcs: Mapping[str, Any], p: np.ndarray, truth: np.ndarray, y: np.ndarray) -> dict[str, float]:
    spec = nfcs_version(nfcs["version"])
    columns = [nfcs["actions"].index(a) for a in spec.actions]
    rows = ~np.isnan(truth[:, columns]).any(axis=1)
    predicted = (p[:, columns] >= PRESENT_AT).sum(axis=1)
    true_score = np.nan_to_num(truth[:, columns]).sum(axis=1).astype(np.int64)
    expected = p[:, columns].mean(axis=1)  # the expected score / items: a continuous reading for the AUC
    count, scored = np.asarray(nfcs["count"], np.float64), np.array([s is not None for s in nfcs["truth_score"]])
    true_count = np.array([s if s is not None else math.nan for s in nfcs["truth_score"]], np.float64)
    rule = confusion(y, (predicted >= spec.pain_threshold).astype(np.float64))
    both = len(set(y.tolist())) == 2
    return {
        "score_mae": float(np.abs(predicted[rows] - true_score[rows]).mean()) if rows.any() else math.nan,
        "score_kappa": quadratic_kappa(true_score[rows], predicted[rows], len(spec.actions) + 1),
        "score_icc": icc_a1(np.stack([true_score[rows], predicted[rows]], axis=1)),
        "count_mae": float(np.abs(count[scored] - true_count[scored]).mean()) if scored.any() else math.nan,
        "rule_auc": roc_auc(y, expected) if both else math.nan,
        "rule_sensitivity": sensitivity(rule),
        "rule_specificity": specificity(rule),
    }


def repeat_metrics(nfcs: Mapping[str, Any], y: np.ndarray) -> dict[str, float]:
    """One repetition's metrics: ``<action>.<metric>`` for each action, then the score's."""
    p = np.asarray(nfcs["p_actions"], np.float64).reshape(len(y), len(nfcs["actions"]))
    truth = np.array([[math.nan if v is None else v for v in row] for row in nfcs["truth_actions"]], np.float64)
    truth = truth.reshape(p.shape)
    out: dict[str, float] = {}
    for j, action in enumerate(nfcs["actions"]):
        out.update({f"{action}.{k}": v for k, v in _action_metrics(truth[:, j], p[:, j]).items()})
    out.update(_score_metrics(nfcs, p, truth, np.asarray(y, np.int64)))
    return out


def summarize_repeats(runs: Sequence[Mapping[str, float]], test_train_ratio: float | None) -> dict[str, Summary]:
    """Mean and 95% CI of every NFCS metric over repetitions (Nadeau-Bengio corrected, as Table I)."""
    names = list(runs[0]) if runs else []
    return {name: summarize([run.get(name, math.nan) for run in runs], 0.95, test_train_ratio) for name in names}
