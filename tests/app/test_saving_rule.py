"""The paper's saving rule on scripted sequences of classes (None: no face in the frame)."""

from __future__ import annotations

import pytest

from neopain.app.core.saving import SavingRule, saved_indices, should_save

P, N, X = "pain", "no_pain", None


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([], []),
        ([X, X, X], []),  # no face, nothing saved
        ([N], [0]),  # the first face is saved whatever its class
        ([P], [0]),
        ([X, N, N, N], [1]),
        ([N, N, P, P, N, N, P], [0, 2, 4, 6]),  # each first frame of a new class
        ([P, X, P, X, N, X, N, P], [0, 4, 7]),  # frames without a face neither save nor reset
        ([N, P, N, P], [0, 1, 2, 3]),
    ],
)
def test_saved_indices(labels: list[str | None], expected: list[int]) -> None:
    assert saved_indices(labels) == expected


def test_should_save_compares_with_the_last_saved_class_not_the_last_frame() -> None:
    # The last frame was a no-face frame; what matters is the last *saved* class.
    assert should_save("pain", None) is False
    assert should_save("pain", "pain") is False
    assert should_save("pain", "no_pain") is True
    assert should_save(None, "no_pain") is True


def test_the_rule_keeps_its_state_between_frames() -> None:
    rule = SavingRule()
    assert [rule.observe(x) for x in (X, P, P)] == [False, True, False]
    assert rule.last_saved_label == P
    resumed = SavingRule(last_saved_label=P)  # state restored from the database after a restart
    assert resumed.observe(P) is False and resumed.observe(N) is True
