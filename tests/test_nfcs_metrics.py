"""NFCS metrics against the truth: per action, the score's kappa / ICC / MAE, and pain by the NFCS rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neopain.evaluate.nfcs import icc_a1, quadratic_kappa, repeat_metrics
from neopain.scales.nfcs import ACTIONS


def _record(truth: np.ndarray, p: np.ndarray, version: str = "nfcs-10") -> dict:
    return {
        "actions": list(ACTIONS), "version": version, "p_actions": p.tolist(), "count": truth.sum(1).tolist(),
        "truth_actions": [[None if math.isnan(v) else float(v) for v in row] for row in truth],
        "truth_score": truth.sum(1).tolist(),
    }


def _truth(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, len(ACTIONS))) < 0.4).astype(np.float64)
    y = (truth.sum(1) >= 3).astype(np.int64)
    return truth, y


def test_a_perfect_coder_scores_perfectly() -> None:
    truth, y = _truth()
    p = np.clip(truth * 0.8 + 0.1, 0, 1)
    m = repeat_metrics(_record(truth, p), y)
    assert all(m[f"{a}.roc_auc"] == 1.0 for a in ACTIONS)
    assert m["score_mae"] == 0.0 and m["score_kappa"] == pytest.approx(1.0) and m["score_icc"] == pytest.approx(1.0)
    assert m["rule_auc"] == 1.0 and m["rule_sensitivity"] == 1.0 and m["rule_specificity"] == 1.0


def test_unknown_truth_is_left_out_not_counted_absent() -> None:
    truth, y = _truth()
    p = np.clip(truth * 0.8 + 0.1, 0, 1)
    hidden = truth.copy()
    column = ACTIONS.index("lip_purse")
    hidden[:30, column] = np.nan
    p_wrong = p.copy()
    p_wrong[:30, column] = 1 - p[:30, column]  # wrong exactly where the truth is unknown
    m = repeat_metrics(_record(hidden, p_wrong), y)
    assert m["lip_purse.roc_auc"] == 1.0  # the rows without a label do not count against it
    # The score is compared only on rows that code every action: the first 30 are left out.
    assert m["score_mae"] == 0.0


def test_a_coder_that_misses_one_action_loses_that_action_and_the_score() -> None:
    truth, y = _truth()
    p = np.clip(truth * 0.8 + 0.1, 0, 1)
    p[:, ACTIONS.index("chin_quiver")] = 0.1  # never sees chin quiver
    m = repeat_metrics(_record(truth, p), y)
    assert m["chin_quiver.roc_auc"] == 0.5 and m["chin_quiver.sensitivity"] == 0.0
    assert m["score_mae"] > 0 and m["score_kappa"] < 1.0


def test_versions_score_only_their_actions() -> None:
    truth, y = _truth()
    p = np.clip(truth * 0.8 + 0.1, 0, 1)
    p[:, ACTIONS.index("lip_purse")] = 1 - p[:, ACTIONS.index("lip_purse")]  # wrong on an action nfcs-8 omits
    assert repeat_metrics(_record(truth, p, "nfcs-8"), y)["score_mae"] == 0.0
    assert repeat_metrics(_record(truth, p, "nfcs-10"), y)["score_mae"] > 0.0


def test_kappa_and_icc_agree_with_known_values() -> None:
    a = np.array([0, 1, 2, 3, 4, 5])
    assert quadratic_kappa(a, a, 11) == pytest.approx(1.0)
    assert quadratic_kappa(a, a[::-1], 11) < 0
    assert icc_a1(np.stack([a, a], 1)) == pytest.approx(1.0)
    # A constant offset lowers absolute agreement (ICC(2,1)) but not the ranking.
    assert 0 < icc_a1(np.stack([a, a + 2], 1)) < 1
    # Shrout & Fleiss (1979), Table 2: six targets, four judges; their ICC(2,1) is 0.29.
    table = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    assert icc_a1(table) == pytest.approx(0.29, abs=0.005)
