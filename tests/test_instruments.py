"""The instruments as data and their engine: bands, rules, partial instruments, bad values."""

from __future__ import annotations

import numpy as np
import pytest

from neopain.scales.instruments import (
    GRIMACE,
    INSTRUMENTS,
    PIPP_BANDS,
    Band,
    Instrument,
    InstrumentError,
    Item,
    Share,
    instrument,
    propose,
    score,
)
from neopain.scales.nfcs import VERSIONS

PIPP_CORE_ZERO = {"heart_rate": 0, "spo2": 0, "brow_bulge": 0, "eye_squeeze": 0, "nasolabial_furrow": 0}


def test_the_registry_holds_every_instrument_and_names_them_on_a_typo() -> None:
    assert set(INSTRUMENTS) == {"pipp-r", "nfcs-10", "nfcs-8", "nfcs-p-3", "nips", "n-pass"}
    with pytest.raises(InstrumentError, match="unknown instrument 'pipp'.*pipp-r.*n-pass"):
        instrument("pipp")
    assert {i.name: i.max_total for i in INSTRUMENTS.values()} == {
        "pipp-r": 21, "nfcs-10": 10, "nfcs-8": 8, "nfcs-p-3": 30, "nips": 7, "n-pass": 13}


@pytest.mark.parametrize(("share", "value"), [
    (0.0, 0), (0.0999, 0), (0.10, 1), (3 / 30, 1), (0.399, 1), (0.40, 2), (12 / 30, 2), (0.699, 2),
    (0.70, 3), (21 / 30, 3), (1.0, 3),
])
def test_pipp_r_share_bands_at_their_edges(share: float, value: int) -> None:
    facial = instrument("pipp-r").item("brow_bulge").facial
    assert facial is not None and facial.bands == PIPP_BANDS
    assert facial.value(share) == value


def test_propose_maps_shares_and_says_why() -> None:
    shares = {
        "brow_bulge": Share(13, 28, 30, True),
        "eye_squeeze": Share(2, 3, 30, False),
    }
    got = propose("pipp-r", shares)
    assert got["brow_bulge"].value == 2
    assert got["brow_bulge"].reason == "brow bulge present in 46.4 % of 28 readable frames"
    assert got["eye_squeeze"].value is None and "not scorable: 3 of 30 frames readable" in got["eye_squeeze"].reason
    assert got["nasolabial_furrow"].value is None and "no reading" in got["nasolabial_furrow"].reason
    # The figure is floored: 9.99 % never shows as the 10 % it did not reach.
    assert "9.9 %" in propose("pipp-r", {"brow_bulge": Share(999, 10000, 10000, True)})["brow_bulge"].reason


def test_pipp_r_contextual_items_count_only_above_a_zero_core() -> None:
    calm = score("pipp-r", {**PIPP_CORE_ZERO, "gestational_age": 3, "behavioural_state": 3})
    assert calm.total == 0 and calm.pain is False
    assert "gestational_age" not in calm.counted and len(calm.applied) == 1
    # Not counted, so not needed either.
    assert score("pipp-r", PIPP_CORE_ZERO).total == 0
    hurt = score("pipp-r", {**PIPP_CORE_ZERO, "heart_rate": 1, "gestational_age": 3, "behavioural_state": 3})
    assert hurt.total == 7 and hurt.applied == () and hurt.interpretation is not None
    assert hurt.interpretation.label == "mild to moderate pain"
    # A core above 0 needs the contextual items: without them there is no total.
    assert score("pipp-r", {**PIPP_CORE_ZERO, "heart_rate": 1}).missing == ("gestational_age", "behavioural_state")


def test_an_unread_core_item_leaves_the_contextual_ones_needed() -> None:
    partial = dict(PIPP_CORE_ZERO, heart_rate=None)
    got = score("pipp-r", partial)
    assert got.total is None and got.missing == ("gestational_age", "behavioural_state", "heart_rate")


def test_pipp_r_bands_and_maximum() -> None:
    full = {k: 3 for k in instrument("pipp-r").keys}
    assert score("pipp-r", full).total == 21
    assert score("pipp-r", full).interpretation == Band(13, 21, "severe pain", True)
    twelve = {**full, "gestational_age": 0, "behavioural_state": 0, "heart_rate": 0}
    assert score("pipp-r", twelve).total == 12 and score("pipp-r", twelve).pain is True


def test_a_partial_instrument_never_gets_a_total() -> None:
    got = score("pipp-r", {**PIPP_CORE_ZERO, "heart_rate": 3, "gestational_age": 3, "spo2": None})
    assert got.total is None and got.interpretation is None and got.pain is None
    assert got.missing == ("behavioural_state", "spo2")
    nips = score("nips", {"facial_expression": 1, "cry": 2})
    assert nips.total is None and nips.missing == ("breathing", "arms", "legs", "state_of_arousal")


@pytest.mark.parametrize(("values", "match"), [
    ({"heart_rate": 4}, r"pipp-r: item 'heart_rate' = 4 is out of range; allowed: 0, 1, 2, 3"),
    ({"spo2": -1}, r"item 'spo2' = -1"),
    ({"brow_bulge": 1.0}, r"item 'brow_bulge' = 1.0"),
    ({"eye_squeeze": True}, r"item 'eye_squeeze' = True"),
    ({"pulse": 1}, r"pipp-r: unknown item 'pulse'; items: gestational_age, behavioural_state"),
])
def test_bad_values_name_the_instrument_the_item_and_the_allowed_values(values: dict, match: str) -> None:
    with pytest.raises(InstrumentError, match=match):
        score("pipp-r", values)


def test_numpy_integers_are_values() -> None:
    assert score("nips", dict.fromkeys(instrument("nips").keys, np.int64(1)) | {"cry": np.int64(2)}).total == 7


def test_nfcs_versions_become_instruments_with_their_threshold() -> None:
    for name in ("nfcs-10", "nfcs-8"):
        inst = instrument(name)
        assert inst.keys == VERSIONS[name].actions
        assert all(i.source == "facial" for i in inst.items)
    eight = instrument("nfcs-8")
    assert "lip_purse" not in eight.keys and len(eight.keys) == 8
    three = dict.fromkeys(eight.keys, 0) | {"brow_bulge": 1, "eye_squeeze": 1, "open_lips": 1}
    assert score(eight, three).total == 3 and score(eight, three).pain is True
    assert score(eight, three | {"open_lips": 0}).pain is False
    facial = eight.item("brow_bulge").facial
    assert facial is not None and facial.value(0.0999) == 0 and facial.value(0.1) == 1


def test_nfcs_p3_epoch_items_are_seconds_present_scaled_to_the_epoch() -> None:
    got = propose("nfcs-p-3", {
        "brow_bulge": Share(5, 10, 10, True, "seconds"),
        "eye_squeeze": Share(7, 8, 10, True, "seconds"),  # 8.75 of 10
        "nasolabial_furrow": Share(1, 8, 10, True, "seconds"),  # 1.25 of 10
    })
    assert [p.value for p in got.values()] == [5, 9, 1]
    assert "of 8 readable seconds" in got["eye_squeeze"].reason
    assert score("nfcs-p-3", {"brow_bulge": 0, "eye_squeeze": 9, "nasolabial_furrow": 0}).pain is True
    assert score("nfcs-p-3", {"brow_bulge": 4, "eye_squeeze": 4, "nasolabial_furrow": 0}).pain is False
    with pytest.raises(InstrumentError, match="nasolabial_furrow' = 11"):
        score("nfcs-p-3", {"nasolabial_furrow": 11})


def test_nips_total_and_bands() -> None:
    values = {"facial_expression": 1, "cry": 2, "breathing": 1, "arms": 0, "legs": 1, "state_of_arousal": 0}
    got = score("nips", values)
    assert got.total == 5 and got.interpretation is not None and got.interpretation.label == "severe pain"
    assert score("nips", values | {"cry": 0, "legs": 0}).pain is False  # 2
    with pytest.raises(InstrumentError, match="nips: item 'cry' = 3.*allowed: 0, 1, 2"):
        score("nips", values | {"cry": 3})
    assert instrument("nips").item("facial_expression").facial.reads == GRIMACE  # type: ignore[union-attr]


def test_n_pass_adds_the_gestational_age_correction() -> None:
    pain = {"crying_irritability": 1, "behaviour_state": 0, "facial_expression": 1, "extremities_tone": 0,
            "vital_signs": 0}
    term = score("n-pass", pain | {"gestational_age": 0})
    assert term.total == 2 and term.pain is False and term.applied == ()
    preterm = score("n-pass", pain | {"gestational_age": 3})  # under 28 weeks: +3
    assert preterm.total == 5 and preterm.pain is True and "+3 under 28" in preterm.applied[0]
    assert score("n-pass", pain | {"gestational_age": 1}).total == 3  # 32-35 weeks: +1, still not > 3
    assert score("n-pass", pain).missing == ("gestational_age",)
    facial = instrument("n-pass").item("facial_expression").facial
    assert facial is not None and [facial.value(s) for s in (0.05, 0.1, 0.69, 0.7)] == [0, 1, 1, 2]


def test_instrument_data_is_checked_when_built() -> None:
    item = Item("x", "x", instrument("nips").item("arms").anchors)
    with pytest.raises(InstrumentError, match="cover 0..1"):
        Instrument("bad", "bad", (item,), (Band(0, 0, "calm", False),), 10.0, "test")
    with pytest.raises(InstrumentError, match="facial needs a Facial spec"):
        Item("y", "y", item.anchors, "facial")
