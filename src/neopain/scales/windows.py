"""Observation windows: per-frame NFCS readings -> tracks smoothed over time -> window shares -> the
instruments' proposals and scores (torch-free).

A frame with no face, an action whose region is hidden, and a hole in time are gaps: never read as absent.
A window with too few readable frames is not scorable, never scored as calm.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np

from neopain.scales.instruments import (
    GRIMACE,
    Instrument,
    InstrumentScore,
    Proposal,
    Share,
    instrument,
    propose,
    score,
)
from neopain.scales.nfcs import ACTIONS, DEFAULT_VERSION, PRESENT_AT, check_action, nfcs_version

# Centred moving median over t +- SMOOTH_S / 2 within a readable stretch (frames with no unread one between):
# a one-frame misread cannot flip a reading, (unlike a mean) an onset stays where it was, and reaching only
# 0.25 s either side it never bridges a hole in time longer than that.
SMOOTH_S = 0.5
# A window is scorable for an action when at least half the frames it should hold are readable, and no fewer
# than MIN_READABLE_FRAMES (a short or low-rate window must not rest on a handful of frames).
MIN_READABLE_SHARE = 0.5
MIN_READABLE_FRAMES = 5
# NFCS-P-3: a second codes an action present when it is present in at least half of that second's readable
# frames; a second with no readable frame is unread; an epoch is scorable with EPOCH_MIN_SECONDS of 10 read.
SECOND_PRESENT_SHARE = 0.5
EPOCH_MIN_SECONDS = 8
# Against a baseline an action is present when p >= PRESENT_AT *and* p exceeds the baby's settled p by this
# much: a nasolabial fold deep at rest (baseline 0.8) is not a furrow; a clear rise from it is.
BASELINE_MARGIN = 0.2
# A baseline is the baby's state on the day: older than this it must be recorded again.
BASELINE_MAX_AGE = timedelta(hours=24)
BASELINE_MIN_FRAMES = 10
# A settled window holds (almost) no grimace: at NIPS's grimace band or more it is no baseline.
BASELINE_MAX_GRIMACE = 0.10
_EPS = 1e-9


class WindowError(ValueError):
    """Readings, a window or a baseline that cannot be scored as asked."""


@dataclass(frozen=True)
class FrameReading:
    """One frame: ``t`` seconds, ``face`` found or not, each action's probability (None: region hidden)."""

    t: float
    face: bool
    actions: Mapping[str, float | None]


@dataclass(frozen=True)
class Track:
    """One action over time: the smoothed probability per frame, NaN where it is a gap."""

    action: str
    t: np.ndarray
    p: np.ndarray


@dataclass(frozen=True)
class Baseline:
    """A baby's settled window: per action the mean smoothed probability, when, from how many face frames."""

    means: Mapping[str, float]
    recorded_at: datetime
    frames: int

    def __post_init__(self) -> None:
        for name, mean in self.means.items():
            check_action(name)
            if not 0.0 <= mean <= 1.0:
                raise WindowError(f"baseline {name}: mean probability {mean} is outside 0-1")
        if self.recorded_at.tzinfo is None:
            raise WindowError("baseline recorded_at must carry its time zone")
        if self.frames < BASELINE_MIN_FRAMES:
            raise WindowError(f"baseline from {self.frames} face frames; {BASELINE_MIN_FRAMES} needed")


@dataclass(frozen=True)
class WindowShares:
    """Per action (and GRIMACE) how often it was present among the window's readable frames."""

    start: float
    end: float
    expected: int  # frames the window should hold at the recording's frame rate
    face_frames: int
    shares: dict[str, Share]


@dataclass(frozen=True)
class WindowScore:
    """An instrument over one window: the shares, the model's proposals and the score (None: not scorable)."""

    instrument: str
    start: float
    end: float
    shares: dict[str, Share]
    proposals: dict[str, Proposal]
    score: InstrumentScore

    @property
    def scorable(self) -> bool:
        return all(p.value is not None for p in self.proposals.values())

    @property
    def total(self) -> int | None:
        return self.score.total


@dataclass(frozen=True)
class _Coded:
    """Frames coded 1 present / 0 absent / NaN unread, per action and for GRIMACE."""

    t: np.ndarray
    face: np.ndarray
    tracks: dict[str, Track]
    codes: dict[str, np.ndarray]
    period: float | None


def _check(readings: Sequence[FrameReading]) -> None:
    """WindowError unless times are finite and increasing and probabilities in 0-1; NfcsError on a name."""
    last = -math.inf
    for i, r in enumerate(readings):
        if not math.isfinite(r.t) or r.t <= last:
            raise WindowError(f"frame {i}: time {r.t} is not after {last} (times must increase)")
        last = r.t
        for name, p in r.actions.items():
            check_action(name)
            if p is not None and not 0.0 <= p <= 1.0:
                raise WindowError(f"frame {i} ({r.t} s): {name} probability {p} is outside 0-1")


def _raw(readings: Sequence[FrameReading], action: str) -> np.ndarray:
    """The action's probability per frame, NaN with no face or the region hidden."""
    values = [r.actions.get(action) if r.face else None for r in readings]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _smooth(t: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Centred moving median over SMOOTH_S within each readable stretch; gaps stay NaN."""
    ok = ~np.isnan(raw)
    out = np.full(len(t), np.nan)
    half, index = SMOOTH_S / 2, np.arange(len(t))
    lo = np.searchsorted(t, t - half - _EPS, side="left").tolist()
    hi = np.searchsorted(t, t + half + _EPS, side="left").tolist()
    # An unread frame ends a stretch: each readable frame's stretch runs from just after the last unread
    # frame before it to the first unread frame after it.
    start = np.maximum.accumulate(np.where(ok, 0, index + 1)).tolist()
    end = np.minimum.accumulate(np.where(ok, len(t), index)[::-1])[::-1].tolist()
    values = raw.tolist()
    for i in np.flatnonzero(ok).tolist():
        # statistics.median on a short list: the same value as np.median, without its per-call overhead.
        out[i] = statistics.median(values[max(lo[i], start[i]):min(hi[i], end[i])])
    return out


def tracks(readings: Sequence[FrameReading]) -> dict[str, Track]:
    """Every NFCS action's smoothed track over ``readings``."""
    _check(readings)
    t = np.array([r.t for r in readings], dtype=float)
    return {a: Track(a, t, _smooth(t, _raw(readings, a))) for a in ACTIONS}


def _present(p: np.ndarray, base: float | None) -> np.ndarray:
    """1.0 / 0.0 per frame from a smoothed track (relative to ``base`` when given); NaN stays NaN."""
    hit = p >= PRESENT_AT
    if base is not None:
        hit &= (p - base) >= BASELINE_MARGIN - _EPS
    return np.where(np.isnan(p), np.nan, hit.astype(float))


def _grimace(codes: dict[str, np.ndarray], version: str) -> np.ndarray:
    """1 at the version's pain threshold of actions present, 0 when unread ones cannot reach it, else NaN."""
    spec = nfcs_version(version)
    stack = np.stack([codes[a] for a in spec.actions])
    present = np.nansum(stack, axis=0)
    unread = np.isnan(stack).sum(axis=0)
    out = np.where(present >= spec.pain_threshold, 1.0, np.nan)
    return np.where(present + unread < spec.pain_threshold, 0.0, out)


def check_baseline(baseline: Baseline, now: datetime | None = None) -> None:
    """WindowError when ``baseline`` is older than BASELINE_MAX_AGE or recorded after ``now``."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise WindowError("now must carry its time zone")
    age = now - baseline.recorded_at
    if age > BASELINE_MAX_AGE:
        raise WindowError(f"baseline recorded {age.total_seconds() / 3600:.1f} h ago, older than the "
                          f"{BASELINE_MAX_AGE.total_seconds() / 3600:g} h limit: record a new settled window")
    if age < -timedelta(minutes=1):
        raise WindowError(f"baseline recorded at {baseline.recorded_at.isoformat()}, after {now.isoformat()}")


def _code(readings: Sequence[FrameReading], baseline: Baseline | None, now: datetime | None,
          version: str) -> _Coded:
    """Smoothed, coded frames; the baseline checked for age first."""
    if baseline is not None:
        check_baseline(baseline, now)
    tr = tracks(readings)
    means = baseline.means if baseline is not None else {}
    missing = [a for a in ACTIONS if baseline is not None and a not in means]
    if missing:
        raise WindowError(f"baseline has no mean for {', '.join(missing)}")
    codes = {a: _present(tr[a].p, means.get(a)) for a in ACTIONS}
    codes[GRIMACE] = _grimace(codes, version)
    t = np.array([r.t for r in readings], dtype=float)
    steps = np.diff(t)
    period = float(np.median(steps)) if len(steps) else None  # the recording's frame period, holes aside
    return _Coded(t, np.array([r.face for r in readings], dtype=bool), tr, codes, period)


def _enough(readable: int, expected: int) -> bool:
    return readable >= MIN_READABLE_FRAMES and readable >= MIN_READABLE_SHARE * expected


def _shares(coded: _Coded, start: float, end: float) -> WindowShares:
    """The window's shares over its readable frames; expected counts the frames a hole in time lost too."""
    inside = (coded.t >= start) & (coded.t < end)
    expected = int(inside.sum())
    if coded.period:
        expected = max(expected, round((end - start) / coded.period))
    shares = {}
    for name, code in coded.codes.items():
        window = code[inside]
        readable = int((~np.isnan(window)).sum())
        shares[name] = Share(int(np.nansum(window)), readable, expected, _enough(readable, expected))
    return WindowShares(start, end, expected, int(coded.face[inside].sum()), shares)


def window_shares(readings: Sequence[FrameReading], start: float, end: float,
                  baseline: Baseline | None = None, now: datetime | None = None,
                  version: str = DEFAULT_VERSION) -> WindowShares:
    """Per action and GRIMACE the share of readable frames in [start, end) where it is present."""
    if end <= start:
        raise WindowError(f"window [{start}, {end}) is empty")
    return _shares(_code(readings, baseline, now, version), start, end)


def _seconds(coded: _Coded, start: float, action: str, n: int) -> tuple[int | None, ...]:
    """Second k of [start, start + n): 1/0 by SECOND_PRESENT_SHARE of its readable frames, None if none."""
    out: list[int | None] = []
    for k in range(n):
        inside = (coded.t >= start + k) & (coded.t < start + k + 1)
        read = coded.codes[action][inside]
        read = read[~np.isnan(read)]
        out.append(None if read.size == 0 else int(read.mean() >= SECOND_PRESENT_SHARE - _EPS))
    return tuple(out)


def second_codes(readings: Sequence[FrameReading], start: float, seconds: int = 10,
                 baseline: Baseline | None = None,
                 now: datetime | None = None) -> dict[str, tuple[int | None, ...]]:
    """Each action coded 0/1 (None: unread) for each second of [start, start + seconds)."""
    coded = _code(readings, baseline, now, DEFAULT_VERSION)
    return {a: _seconds(coded, start, a, seconds) for a in ACTIONS}


def _epoch(coded: _Coded, inst: Instrument, start: float) -> dict[str, Share]:
    """NFCS-P-3's shares for one epoch: seconds present of seconds read, per action it reads."""
    n = round(inst.window_s)
    out = {}
    for item in inst.facial_items:
        assert item.facial is not None
        codes = [c for c in _seconds(coded, start, item.facial.reads, n) if c is not None]
        out[item.facial.reads] = Share(sum(codes), len(codes), n, len(codes) >= EPOCH_MIN_SECONDS, "seconds")
    return out


def _check_length(inst: Instrument, start: float, end: float) -> None:
    length = end - start
    if inst.epoch and abs(length - inst.window_s) > 1e-6:
        raise WindowError(f"{inst.name} scores one {inst.window_s:g} s epoch, not {length:g} s: "
                          "use epoch_scores")
    if length < inst.window_s - 1e-6:
        raise WindowError(f"{inst.name} needs a window of at least {inst.window_s:g} s, got {length:g} s")


def _scored(inst: Instrument, coded: _Coded, start: float, end: float,
            entered: Mapping[str, int | None] | None) -> WindowScore:
    shares = _epoch(coded, inst, start) if inst.epoch else _shares(coded, start, end).shares
    proposals = propose(inst, shares)
    # The nurse decides: an entered value (facial items included) replaces the proposal; the proposal stays.
    decided = {k: v for k, v in (entered or {}).items() if v is not None}
    values = {k: p.value for k, p in proposals.items()} | decided
    return WindowScore(inst.name, start, end, shares, proposals, score(inst, values))


def readings_around(readings: Sequence[FrameReading], start: float, end: float) -> list[FrameReading]:
    """The readings a window's scoring can see: its own and SMOOTH_S either side (the median's reach), so a
    long recording is not smoothed whole for each of its windows."""
    return [r for r in readings if start - SMOOTH_S <= r.t < end + SMOOTH_S]


def score_window(name: str | Instrument, readings: Sequence[FrameReading], start: float, end: float,
                 entered: Mapping[str, int | None] | None = None, baseline: Baseline | None = None,
                 now: datetime | None = None, version: str = DEFAULT_VERSION) -> WindowScore:
    """The instrument over [start, end): facial items proposed from the window, the rest ``entered``."""
    inst = instrument(name)
    _check_length(inst, start, end)
    return _scored(inst, _code(readings, baseline, now, version), start, end, entered)


def epoch_scores(readings: Sequence[FrameReading], start: float, end: float, baseline: Baseline | None = None,
                 now: datetime | None = None, name: str = "nfcs-p-3") -> list[WindowScore]:
    """An epoch instrument over each whole epoch of [start, end) in turn (a shorter tail is left out)."""
    inst = instrument(name)
    if not inst.epoch:
        raise WindowError(f"{inst.name} is not scored in epochs: use score_window")
    count = int((end - start + 1e-6) // inst.window_s)
    if count < 1:
        raise WindowError(f"{inst.name} needs at least one {inst.window_s:g} s epoch, got {end - start:g} s")
    coded = _code(readings, baseline, now, DEFAULT_VERSION)
    edges = [start + k * inst.window_s for k in range(count + 1)]
    return [_scored(inst, coded, a, b, None) for a, b in pairwise(edges)]


def record_baseline(readings: Sequence[FrameReading], start: float, end: float, recorded_at: datetime,
                    version: str = DEFAULT_VERSION) -> Baseline:
    """A baseline from a settled window; WindowError when too few frames are readable or it is no rest."""
    coded = _code(readings, None, None, version)
    win = _shares(coded, start, end)
    thin = [a for a in ACTIONS if not _enough(win.shares[a].readable, win.expected)
            or win.shares[a].readable < BASELINE_MIN_FRAMES]
    if thin:
        raise WindowError(f"baseline window [{start}, {end}): too few readable frames for {', '.join(thin)} "
                          f"(of {win.expected} expected)")
    grimace = win.shares[GRIMACE].share
    if grimace is None or grimace >= BASELINE_MAX_GRIMACE:
        raise WindowError(f"baseline window [{start}, {end}) is not settled: a grimace in "
                          f"{0 if grimace is None else grimace:.0%} of its frames")
    inside = (coded.t >= start) & (coded.t < end)
    means = {a: float(np.nanmean(coded.tracks[a].p[inside])) for a in ACTIONS}
    return Baseline(means, recorded_at, win.face_frames)
