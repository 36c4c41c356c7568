"""Observation windows: tracks with gaps, window shares, per-second epochs, baselines and window scores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from neopain.scales.instruments import GRIMACE
from neopain.scales.nfcs import ACTIONS, NfcsError
from neopain.scales.windows import (
    BASELINE_MAX_AGE,
    Baseline,
    FrameReading,
    WindowError,
    epoch_scores,
    record_baseline,
    score_window,
    second_codes,
    tracks,
    window_shares,
)

FPS = 10
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CALM = dict.fromkeys(ACTIONS, 0.1)
PIPP_ENTERED = {"gestational_age": 2, "behavioural_state": 1, "heart_rate": 1, "spo2": 0}


def frames(seconds: float, at: Callable[[float], dict], face: Callable[[float], bool] = lambda t: True,
           start: float = 0.0) -> list[FrameReading]:
    """FPS frames a second over [start, start + seconds): calm actions overridden by ``at(t)``."""
    times = [start + i / FPS for i in range(round(seconds * FPS))]
    return [FrameReading(t, face(t), CALM | at(t)) for t in times]


def test_a_window_mostly_without_a_face_is_not_scorable_never_calm() -> None:
    readings = frames(30, lambda t: {}, face=lambda t: t >= 24)  # 80 % of the frames: no face
    shares = window_shares(readings, 0, 30)
    assert shares.expected == 300 and shares.face_frames == 60
    assert shares.shares["brow_bulge"].readable == 60 and not shares.shares["brow_bulge"].scorable
    got = score_window("pipp-r", readings, 0, 30, entered=PIPP_ENTERED)
    assert not got.scorable and got.total is None and got.score.pain is None
    assert all(p.value is None and "not scorable: 60 of 300" in p.reason for p in got.proposals.values())
    assert got.score.missing == ("brow_bulge", "eye_squeeze", "nasolabial_furrow")


def test_a_window_with_no_face_at_all_is_never_scored() -> None:
    got = score_window("nips", frames(60, lambda t: {}, face=lambda t: False), 0, 60,
                       entered={"cry": 0, "breathing": 0, "arms": 0, "legs": 0, "state_of_arousal": 0})
    assert got.total is None and got.proposals["facial_expression"].value is None


def test_a_hidden_region_stays_a_gap_in_the_track_and_the_shares() -> None:
    hidden = lambda t: {"nasolabial_furrow": None} if 10 <= t < 15 else {}
    readings = frames(30, hidden)
    track = tracks(readings)["nasolabial_furrow"]
    gap = (track.t >= 10) & (track.t < 15)
    assert np.isnan(track.p[gap]).all() and not np.isnan(track.p[~gap]).any()
    assert not np.isnan(tracks(readings)["brow_bulge"].p).any()
    share = window_shares(readings, 0, 30).shares["nasolabial_furrow"]
    assert share.readable == 250 and share.present == 0 and share.scorable


def test_a_hole_in_time_counts_as_expected_frames_never_as_absent() -> None:
    readings = frames(12, lambda t: {"brow_bulge": 0.9})  # the camera stopped at 12 s of a 30-s window
    shares = window_shares(readings, 0, 30)
    assert shares.expected == 300 and shares.shares["brow_bulge"].readable == 120
    assert shares.shares["brow_bulge"].present == 120 and not shares.shares["brow_bulge"].scorable


def test_the_median_smooths_a_blip_but_never_across_an_unread_frame() -> None:
    blip = frames(3, lambda t: {"brow_bulge": 0.9 if abs(t - 1.5) < 0.01 else 0.1})
    assert np.nanmax(tracks(blip)["brow_bulge"].p) == pytest.approx(0.1)  # one frame cannot flip it
    readings = [FrameReading(0.0, True, {"brow_bulge": 0.2}), FrameReading(0.1, True, {"brow_bulge": None}),
                FrameReading(0.2, True, {"brow_bulge": 0.9})]
    p = tracks(readings)["brow_bulge"].p
    assert p[0] == pytest.approx(0.2) and np.isnan(p[1]) and p[2] == pytest.approx(0.9)


def test_window_shares_and_pipp_r_bands_from_frames() -> None:
    # brow bulge present in the first 12 of 30 s (40 %), eye squeeze in 2.9 s (9.67 %: under 10 %).
    readings = frames(30, lambda t: {"brow_bulge": 0.9 if t < 12 else 0.1, "eye_squeeze": 0.8 if t < 2.9 else 0})
    got = score_window("pipp-r", readings, 0, 30, entered=PIPP_ENTERED)
    assert {k: p.value for k, p in got.proposals.items()} == {"brow_bulge": 2, "eye_squeeze": 0,
                                                               "nasolabial_furrow": 0}
    assert got.proposals["brow_bulge"].reason == "brow bulge present in 40 % of 300 readable frames"
    assert got.total == 2 + 1 + 1 + 2  # GA 2, state 1, heart rate 1, brow 2


def test_an_entered_facial_value_is_the_nurses_decision() -> None:
    readings = frames(30, lambda t: {"brow_bulge": 0.9})
    got = score_window("pipp-r", readings, 0, 30, entered=PIPP_ENTERED | {"brow_bulge": 1})
    assert got.proposals["brow_bulge"].value == 3 and got.score.values["brow_bulge"] == 1


def test_grimace_share_for_nips_and_n_pass() -> None:
    face = {"brow_bulge": 0.9, "eye_squeeze": 0.9, "nasolabial_furrow": 0.9}
    readings = frames(60, lambda t: face if t < 48 else {})  # a grimace 80 % of the minute
    shares = window_shares(readings, 0, 60).shares
    assert shares[GRIMACE].present == 480 and shares[GRIMACE].readable == 600
    nips = score_window("nips", readings, 0, 60, entered={"cry": 2, "breathing": 1, "arms": 1, "legs": 0,
                                                          "state_of_arousal": 1})
    assert nips.proposals["facial_expression"].value == 1 and nips.total == 6 and nips.score.pain is True
    npass = score_window("n-pass", readings, 0, 60, entered={
        "crying_irritability": 0, "behaviour_state": 0, "extremities_tone": 0, "vital_signs": 0,
        "gestational_age": 2})
    assert npass.proposals["facial_expression"].value == 2 and npass.total == 4 and npass.score.pain is True


def test_a_frame_with_unread_actions_is_a_grimace_only_when_the_rule_is_settled() -> None:
    two = {"brow_bulge": 0.9, "eye_squeeze": 0.9, "open_lips": None}
    unsure = window_shares(frames(10, lambda t: two), 0, 10).shares[GRIMACE]
    assert unsure.readable == 0 and not unsure.scorable  # the hidden action could make it three
    none = {"open_lips": None, "chin_quiver": None}
    calm = window_shares(frames(10, lambda t: none), 0, 10).shares[GRIMACE]
    assert calm.readable == 100 and calm.present == 0  # two unread cannot reach three


def test_nfcs_p3_codes_each_second_and_scores_the_epoch() -> None:
    at = lambda t: {"brow_bulge": 0.9 if t < 6 else 0.1, "eye_squeeze": 0.9 if 3 <= t < 6 else 0.1,
                    "nasolabial_furrow": 0.9}
    readings = frames(10, at)
    codes = second_codes(readings, 0)
    assert codes["brow_bulge"] == (1, 1, 1, 1, 1, 1, 0, 0, 0, 0)
    assert codes["eye_squeeze"] == (0, 0, 0, 1, 1, 1, 0, 0, 0, 0)
    [epoch] = epoch_scores(readings, 0, 10)
    assert epoch.total == 6 + 3 + 10 and epoch.score.pain is True
    assert score_window("nfcs-p-3", readings, 0, 10).total == 19


def test_nfcs_p3_unread_seconds_are_neither_present_nor_absent() -> None:
    at = lambda t: {"brow_bulge": 0.9 if t < 6 else 0.1, "eye_squeeze": 0.1, "nasolabial_furrow": 0.1}
    two_gone = frames(10, at, face=lambda t: t < 8)
    assert second_codes(two_gone, 0)["brow_bulge"][-3:] == (0, None, None)
    got = score_window("nfcs-p-3", two_gone, 0, 10)
    assert got.scorable and got.score.values["brow_bulge"] == 8  # 6 of 8 read seconds -> 7.5 -> 8
    three_gone = score_window("nfcs-p-3", frames(10, at, face=lambda t: t < 7), 0, 10)
    assert not three_gone.scorable and three_gone.total is None


def test_epochs_over_a_longer_stretch() -> None:
    readings = frames(35, lambda t: {a: 0.9 for a in ACTIONS[:3]} if t >= 10 else {})
    assert [e.total for e in epoch_scores(readings, 0, 35)] == [0, 30, 30]  # the 5-s tail is left out
    with pytest.raises(WindowError, match="one 10 s epoch, not 12 s"):
        score_window("nfcs-p-3", readings, 0, 12)


def _baseline(fold: float = 0.8) -> Baseline:
    rest = frames(20, lambda t: {"nasolabial_furrow": fold})
    return record_baseline(rest, 0, 20, NOW - timedelta(hours=1))


def test_a_deep_fold_at_rest_is_not_a_furrow_against_the_baseline() -> None:
    base = _baseline(0.8)
    assert base.means["nasolabial_furrow"] == pytest.approx(0.8) and base.frames == 200
    readings = frames(30, lambda t: {"nasolabial_furrow": 0.85, "brow_bulge": 0.9}, start=100)
    plain = window_shares(readings, 100, 130).shares
    relative = window_shares(readings, 100, 130, baseline=base, now=NOW).shares
    assert plain["nasolabial_furrow"].present == 300 and relative["nasolabial_furrow"].present == 0
    assert relative["brow_bulge"].present == 300  # 0.9 against a settled 0.1
    risen = frames(30, lambda t: {"nasolabial_furrow": 1.0}, start=100)
    assert window_shares(risen, 100, 130, baseline=base, now=NOW).shares["nasolabial_furrow"].present == 300


def test_a_baseline_too_old_or_undated_or_from_too_few_frames_is_refused() -> None:
    base = _baseline()
    readings = frames(30, lambda t: {})
    stale = NOW + BASELINE_MAX_AGE
    with pytest.raises(WindowError, match="recorded 25.0 h ago, older than the 24 h limit"):
        score_window("pipp-r", readings, 0, 30, baseline=base, now=stale)
    with pytest.raises(WindowError, match="after"):
        window_shares(readings, 0, 30, baseline=base, now=NOW - timedelta(hours=2))
    with pytest.raises(WindowError, match="time zone"):
        Baseline(base.means, datetime(2026, 12, 1), 200)
    with pytest.raises(WindowError, match="too few readable frames for brow_bulge"):
        record_baseline(frames(20, lambda t: {}, face=lambda t: t < 4), 0, 20, NOW)
    with pytest.raises(WindowError, match="not settled"):
        record_baseline(frames(20, lambda t: {a: 0.9 for a in ACTIONS[:3]}), 0, 20, NOW)
    with pytest.raises(WindowError, match="10 needed"):
        Baseline(base.means, NOW, 3)


@pytest.mark.parametrize(("name", "length"), [("pipp-r", 20), ("nips", 30), ("nfcs-10", 5)])
def test_a_window_shorter_than_the_instrument_is_an_error(name: str, length: float) -> None:
    with pytest.raises(WindowError, match=f"{name} needs a window of at least"):
        score_window(name, frames(60, lambda t: {}), 0, length)


def test_bad_readings_are_clear_errors() -> None:
    with pytest.raises(WindowError, match="frame 1: time 0.0 is not after 0.0"):
        tracks([FrameReading(0.0, True, {}), FrameReading(0.0, True, {})])
    with pytest.raises(WindowError, match="brow_bulge probability 1.5"):
        tracks([FrameReading(0.0, True, {"brow_bulge": 1.5})])
    with pytest.raises(NfcsError, match="unknown NFCS action 'frown'"):
        tracks([FrameReading(0.0, True, {"frown": 0.5})])
