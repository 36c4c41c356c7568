"""The bedside pain instruments as data (items, anchors, bands, rules, sources) and a small engine that scores
them and proposes their facial items from a window's shares, free of any UI.

The model proposes the facial items; the nurse enters the rest and decides. A partial instrument never gets
a total: an item the rules count and nobody filled in leaves the total None, never a lower score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from numbers import Integral
from typing import Literal

from neopain.scales.nfcs import VERSIONS, NfcsVersion

# A facial item reading the share of frames whose NFCS reading is a grimace (the version's pain threshold of
# actions present or more, windows.py).
GRIMACE = "grimace"
# Shares computed as k/n land on a band edge however they were divided.
_EDGE_EPS = 1e-9


class InstrumentError(ValueError):
    """An unknown instrument or item, or an item value outside its anchors."""


@dataclass(frozen=True)
class Anchor:
    value: int
    label: str


@dataclass(frozen=True)
class ShareBand:
    """The item takes ``value`` from this share (0-1) of the readable frames (or seconds) up."""

    value: int
    at_least: float


@dataclass(frozen=True)
class Facial:
    """What a facial item reads (an NFCS action, or GRIMACE) and the bands mapping its share to the value."""

    reads: str
    bands: tuple[ShareBand, ...]
    unit: Literal["frames", "seconds"] = "frames"

    def value(self, share: float) -> int:
        """The item value of ``share``: the highest band reached."""
        return max((b.value for b in self.bands if share >= b.at_least - _EDGE_EPS), default=0)


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    anchors: tuple[Anchor, ...]
    source: Literal["facial", "entered"] = "entered"
    facial: Facial | None = None

    def __post_init__(self) -> None:
        if (self.source == "facial") != (self.facial is not None):
            raise InstrumentError(f"item {self.key!r}: facial needs a Facial spec, entered none")

    @property
    def allowed(self) -> tuple[int, ...]:
        return tuple(a.value for a in self.anchors)


@dataclass(frozen=True)
class CountOnlyIf:
    """``items`` count only when the ``core`` items sum above ``above`` (PIPP-R's contextual items)."""

    items: tuple[str, ...]
    core: tuple[str, ...]
    above: int
    text: str


@dataclass(frozen=True)
class AddPoints:
    """``item`` is not summed as it is: it adds ``points[value]`` (N-PASS's gestational-age correction)."""

    item: str
    points: tuple[int, ...]
    text: str


Rule = CountOnlyIf | AddPoints


@dataclass(frozen=True)
class Band:
    """An interpretation of totals ``low``..``high`` (inclusive); ``pain``: whether it reads as pain."""

    low: int
    high: int
    label: str
    pain: bool


@dataclass(frozen=True)
class Instrument:
    name: str
    title: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    window_s: float  # the shortest observation window it is scored over (exactly one epoch for NFCS-P-3)
    source: str
    rules: tuple[Rule, ...] = ()
    note: str = ""
    epoch: bool = False  # scored over one fixed epoch (NFCS-P-3), not any window at least window_s long

    def __post_init__(self) -> None:
        keys = [i.key for i in self.items]
        named = [k for r in self.rules
                 for k in (r.items + r.core if isinstance(r, CountOnlyIf) else (r.item,))]
        if len(set(keys)) != len(keys) or set(named) - set(keys):
            raise InstrumentError(f"{self.name}: duplicate items, or rules naming no item")
        edges = [(b.low, b.high) for b in self.bands]
        if edges[0][0] != 0 or edges[-1][1] != self.max_total or any(
            lo != prev_hi + 1 for (_, prev_hi), (lo, _) in pairwise(edges)
        ):
            raise InstrumentError(f"{self.name}: the bands must cover 0..{self.max_total} without a hole")

    def item(self, key: str) -> Item:
        """The item called ``key``, or InstrumentError listing the instrument's items."""
        for it in self.items:
            if it.key == key:
                return it
        raise InstrumentError(f"{self.name}: unknown item {key!r}; items: {', '.join(self.keys)}")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.items)

    @property
    def facial_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.facial is not None)

    @property
    def max_total(self) -> int:
        added = {r.item: max(r.points) for r in self.rules if isinstance(r, AddPoints)}
        return sum(added.get(i.key, max(i.allowed)) for i in self.items)


@dataclass(frozen=True)
class Share:
    """How often what a facial item reads was present in a window: ``present`` of ``readable`` units."""

    present: int
    readable: int
    expected: int  # units the window should hold (frames at the frame rate, or the epoch's seconds)
    scorable: bool  # enough readable units (windows.py decides)
    unit: Literal["frames", "seconds"] = "frames"

    @property
    def share(self) -> float | None:
        return self.present / self.readable if self.readable else None


@dataclass(frozen=True)
class Proposal:
    """The model's proposal for one facial item: a value, or None when not scorable, and why."""

    item: str
    value: int | None
    reason: str


@dataclass(frozen=True)
class InstrumentScore:
    instrument: str
    values: dict[str, int | None]
    counted: tuple[str, ...]  # the items the rules count for these values
    missing: tuple[str, ...]  # counted (or possibly counted) items with no value
    total: int | None  # None unless every counted item has a value
    interpretation: Band | None
    applied: tuple[str, ...] = field(default_factory=tuple)  # the rules that changed what counts

    @property
    def pain(self) -> bool | None:
        return None if self.interpretation is None else self.interpretation.pain


def _anchors(*labels: str) -> tuple[Anchor, ...]:
    return tuple(Anchor(v, label) for v, label in enumerate(labels))


def _bands(*edges: float) -> tuple[ShareBand, ...]:
    return tuple(ShareBand(v, e) for v, e in enumerate(edges, start=1))


def _said(action: str) -> str:
    return "a grimace" if action == GRIMACE else action.replace("_", " ")


# PIPP-R's facial bands (Stevens et al. 2014): 0 under 10 %, 1 10-39 %, 2 40-69 %, 3 70 % or more of the
# window.
PIPP_BANDS = _bands(0.10, 0.40, 0.70)
# An NFCS action is coded present in a window from this share of its readable frames (our choice: PIPP-R's
# first band, so one brief flicker of a misread does not code a whole window).
NFCS_PRESENT_BAND = _bands(0.10)
# NIPS grimace and N-PASS "intermittent" from PIPP-R's first band too; N-PASS "continual" from its last (our
# choice: the scales say "intermittent"/"continual" without a share).
GRIMACE_BANDS_NIPS = _bands(0.10)
GRIMACE_BANDS_NPASS = _bands(0.10, 0.70)
# NFCS-P-3 seconds: value k (0-10) when k - 0.5 of 10 seconds are present, i.e. the share of readable seconds
# scaled to the 10-s epoch, rounded half up (an unread second counts neither present nor absent).
EPOCH_S = 10
EPOCH_BANDS = tuple(ShareBand(k, (k - 0.5) / EPOCH_S) for k in range(1, EPOCH_S + 1))

GA_ANCHORS = _anchors(">= 36 weeks", "32 to 35+6 weeks", "28 to 31+6 weeks", "< 28 weeks")


def _facial(key: str, anchors: tuple[Anchor, ...], reads: str, bands: tuple[ShareBand, ...],
            unit: Literal["frames", "seconds"] = "frames", label: str = "") -> Item:
    return Item(key, label or _said(reads), anchors, "facial", Facial(reads, bands, unit))


_PIPP_FACE = _anchors("< 10 % of the window", "10-39 %", "40-69 %", ">= 70 %")
_PIPP_CORE = ("heart_rate", "spo2", "brow_bulge", "eye_squeeze", "nasolabial_furrow")
PIPP_R = Instrument(
    "pipp-r", "Premature Infant Pain Profile - Revised",
    items=(
        Item("gestational_age", "gestational age", GA_ANCHORS),
        Item("behavioural_state", "behavioural state (15 s before the procedure)", _anchors(
            "active/awake, eyes open, facial movements", "quiet/awake, eyes open, no facial movements",
            "active/asleep, eyes closed, facial movements",
            "quiet/asleep, eyes closed, no facial movements")),
        Item("heart_rate", "heart rate increase over baseline",
             _anchors("0-4 bpm", "5-14", "15-24", ">= 25")),
        Item("spo2", "SpO2 decrease from baseline", _anchors("0-2.4 %", "2.5-4.9", "5.0-7.4", ">= 7.5")),
        *(_facial(a, _PIPP_FACE, a, PIPP_BANDS) for a in ("brow_bulge", "eye_squeeze", "nasolabial_furrow")),
    ),
    rules=(CountOnlyIf(("gestational_age", "behavioural_state"), _PIPP_CORE, 0,
                       "gestational age and behavioural state count only when the core items sum above 0"),),
    # 0-6 / 7-12 / > 12 is the reading commonly used with PIPP(-R); it is a convention, not part of the scale.
    bands=(Band(0, 6, "minimal or no pain", False), Band(7, 12, "mild to moderate pain", True),
           Band(13, 21, "severe pain", True)),
    window_s=30.0,
    source="Stevens B et al. The Premature Infant Pain Profile-Revised (PIPP-R). Clin J Pain 2014;30:238-43",
)


def _nfcs(version: NfcsVersion) -> Instrument:
    """NFCS over a window: each action of ``version`` 0/1 from its share, pain at the version's threshold."""
    items = tuple(_facial(a, _anchors("absent", "present"), a, NFCS_PRESENT_BAND) for a in version.actions)
    n, thr = len(items), version.pain_threshold
    return Instrument(
        version.name, f"Neonatal Facial Coding System ({n} actions)", items,
        bands=(Band(0, thr - 1, "below the NFCS pain threshold", False),
               Band(thr, n, f"pain by the NFCS rule (>= {thr} actions)", True)),
        window_s=10.0, source=version.source,  # NFCS names no window: ours, one NFCS-P-3 epoch
    )


NFCS_P3 = Instrument(
    "nfcs-p-3", "NFCS-P-3, one 10-second epoch coded each second",
    items=tuple(_facial(a, _anchors(*(f"present {k} of 10 seconds" for k in range(EPOCH_S + 1))), a,
                        EPOCH_BANDS, "seconds") for a in ("brow_bulge", "eye_squeeze", "nasolabial_furrow")),
    bands=(Band(0, 8, "below the NFCS-P-3 pain threshold", False),
           Band(9, 30, "pain by NFCS-P-3 (>= 9)", True)),
    window_s=float(EPOCH_S), epoch=True,
    source="NFCS-P-3: brow bulge, eye squeeze and nasolabial furrow coded per second over 10-s epochs "
           "(Pain 2023)",
)

NIPS = Instrument(
    "nips", "Neonatal Infant Pain Scale",
    items=(
        _facial("facial_expression", _anchors("relaxed muscles", "grimace"), GRIMACE, GRIMACE_BANDS_NIPS,
                label="facial expression"),
        Item("cry", "cry", _anchors("no cry", "whimper", "vigorous cry")),
        Item("breathing", "breathing patterns", _anchors("relaxed", "change in breathing")),
        Item("arms", "arms", _anchors("relaxed/restrained", "flexed/extended")),
        Item("legs", "legs", _anchors("relaxed/restrained", "flexed/extended")),
        Item("state_of_arousal", "state of arousal", _anchors("sleeping/awake", "fussy")),
    ),
    # The commonly used reading (a convention): 0-2 no pain to mild discomfort, 3-4 mild to moderate pain,
    # > 4 severe.
    bands=(Band(0, 2, "no pain to mild discomfort", False), Band(3, 4, "mild to moderate pain", True),
           Band(5, 7, "severe pain", True)),
    window_s=60.0,  # Lawrence et al. scored one-minute intervals
    source="Lawrence J et al. The development of a tool to assess neonatal pain. Neonatal Netw 1993;12:59-66",
)

N_PASS = Instrument(
    "n-pass", "Neonatal Pain, Agitation and Sedation Scale (pain subscale)",
    items=(
        Item("crying_irritability", "crying / irritability", _anchors(
            "appropriate crying, not irritable", "irritable or crying at intervals, consolable",
            "high-pitched or silent-continuous cry, inconsolable")),
        Item("behaviour_state", "behaviour / state", _anchors(
            "appropriate for gestational age", "restless, squirming, awakens frequently",
            "arching, kicking, constantly awake, or arouses minimally / no movement (not sedated)")),
        _facial("facial_expression", _anchors("relaxed, appropriate", "any pain expression, intermittent",
                                              "any pain expression, continual"),
                GRIMACE, GRIMACE_BANDS_NPASS, label="facial expression"),
        Item("extremities_tone", "extremities / tone", _anchors(
            "relaxed hands and feet, normal tone", "intermittent clenched toes, fists or finger splay",
            "continual clenched toes, fists or finger splay; body tense")),
        Item("vital_signs", "vital signs (HR, RR, BP, SaO2)", _anchors(
            "within baseline or normal for gestational age",
            "10-20 % from baseline; SaO2 76-85 % with stimulation, quick recovery",
            "> 20 % from baseline; SaO2 <= 75 % with stimulation, slow recovery; out of sync with the vent")),
        Item("gestational_age", "gestational (corrected) age", GA_ANCHORS),
    ),
    rules=(AddPoints("gestational_age", (0, 1, 2, 3),
                     "N-PASS adds +1 at 32-35 weeks, +2 at 28-31, +3 under 28 (corrected age)"),),
    bands=(Band(0, 3, "below the N-PASS pain threshold", False), Band(4, 13, "pain (N-PASS > 3)", True)),
    window_s=30.0,  # the scale names no window; ours, as PIPP-R's
    # Only the pain subscale: the sedation subscale (negative scores, sedated babies) is not included.
    note="pain subscale only; the sedation subscale is not included",
    source="Hummel P et al. Clinical reliability and validity of the N-PASS. J Perinatol 2008;28:55-60",
)

INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    # nfcs-p-3 in VERSIONS is its per-frame reading; as an instrument it is the 10-s epoch (NFCS_P3).
    for i in (PIPP_R, *(_nfcs(v) for n, v in VERSIONS.items() if n != "nfcs-p-3"), NFCS_P3, NIPS, N_PASS)
}


def instrument(name: str | Instrument) -> Instrument:
    """The instrument called ``name`` (an Instrument passes through), or InstrumentError listing them."""
    if isinstance(name, Instrument):
        return name
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise InstrumentError(f"unknown instrument {name!r}; known: {', '.join(INSTRUMENTS)}") from None


def check_values(inst: Instrument, values: Mapping[str, int | None]) -> dict[str, int | None]:
    """``values`` over every item (None where not given), or InstrumentError naming the bad item."""
    out: dict[str, int | None] = dict.fromkeys(inst.keys)
    for key, value in values.items():
        item = inst.item(key)
        if value is None:
            continue
        ok = isinstance(value, Integral) and not isinstance(value, bool) and int(value) in item.allowed
        if not ok:
            allowed = ", ".join(str(v) for v in item.allowed)
            raise InstrumentError(f"{inst.name}: item {key!r} = {value!r} is out of range; "
                                  f"allowed: {allowed}")
        out[key] = int(value)
    return out


def _counted(inst: Instrument, values: dict[str, int | None]) -> tuple[set[str], list[str]]:
    """(the items counted for these values, the rules that dropped some)."""
    dropped: set[str] = set()
    applied = []
    for rule in (r for r in inst.rules if isinstance(r, CountOnlyIf)):
        core = [values[k] for k in rule.core]
        # Dropped only when the whole core is read and sums to ``above`` or less: while a core item is unread
        # the contextual items may still count, so they stay needed.
        if None not in core and sum(v for v in core if v is not None) <= rule.above:
            dropped |= set(rule.items)
            applied.append(rule.text)
    return set(inst.keys) - dropped, applied


def score(name: str | Instrument, values: Mapping[str, int | None]) -> InstrumentScore:
    """The instrument's total over ``values`` under its rules; None unless every counted item has a value."""
    inst = instrument(name)
    vals = check_values(inst, values)
    counted, applied = _counted(inst, vals)
    order = tuple(k for k in inst.keys if k in counted)
    missing = tuple(k for k in order if vals[k] is None)
    points = {r.item: r.points for r in inst.rules if isinstance(r, AddPoints)}
    total = None
    if not missing:
        got = {k: v for k in order if (v := vals[k]) is not None}
        total = sum(points[k][v] if k in points else v for k, v in got.items())
        applied += [r.text for r in inst.rules if isinstance(r, AddPoints) and got.get(r.item)]
    band = None if total is None else next(b for b in inst.bands if b.low <= total <= b.high)
    return InstrumentScore(inst.name, vals, order, missing, total, band, tuple(applied))


def _percent(share: float) -> str:
    """A share as a percentage floored to 0.1, so the figure never shows past a band edge it did not reach."""
    return f"{math.floor(1000 * share + 1e-6) / 10:g} %"


def propose(name: str | Instrument, shares: Mapping[str, Share]) -> dict[str, Proposal]:
    """Per facial item the value its share reaches, or None (with the reason) when it is not scorable."""
    inst = instrument(name)
    out = {}
    for item in inst.facial_items:
        spec = item.facial
        assert spec is not None
        got = shares.get(spec.reads)
        what = _said(spec.reads)
        if got is None:
            out[item.key] = Proposal(item.key, None, f"{what}: no reading")
        elif not got.scorable or got.share is None:
            out[item.key] = Proposal(item.key, None, f"{what} not scorable: {got.readable} of {got.expected} "
                                                     f"{got.unit} readable")
        else:
            reason = f"{what} present in {_percent(got.share)} of {got.readable} readable {got.unit}"
            out[item.key] = Proposal(item.key, spec.value(got.share), reason)
    return out
