"""What a synthetic baby does over a video: rest -> procedure -> recovery, each NFCS action's episodes,
blinks, head motion, a hand passing over the face, the face leaving the view. Drawing is elsewhere.

Every part draws from its own generator seeded by (seed, subject, part), so changing how often hands pass
leaves the actions alone. Times are seconds from the start of the video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neopain.data.synthetic import PAIN_ODDS, REST_ODDS
from neopain.scales.nfcs import ACTIONS

PHASES = ("rest", "procedure", "recovery")
# The weakest intensity a present action takes (the stills' floor): below it an action would not show.
FLOOR = 0.3
# Actions that may switch off and on again during the procedure (a quivering chin, a tongue at work).
FLICKERING = ("chin_quiver", "tongue_protrusion", "taut_tongue", "mouth_stretch_vertical", "open_lips")
_NEEDS_OPEN_LIPS = ("mouth_stretch_vertical", "taut_tongue", "tongue_protrusion")
# Seed-sequence tags of the parts of a timeline (the video's identity and scene streams use 1-9).
_ACTIONS, _BLINKS, _PASSES, _AWAY, _MOTION = 11, 12, 13, 14, 15


@dataclass(frozen=True)
class VideoConfig:
    """Knobs of the synthetic videos; the defaults are the video benchmark."""

    subjects: int = 10
    # 40 s of rest, 40-50 s of procedure, the rest recovery: every phase holds a whole 30-s PIPP-R window,
    # so the facial items meet their whole range (0 at rest to 3), not only the windows that straddle a change.
    seconds: float = 120.0
    fps: float = 10.0
    seed: int = 0
    size: int = 256
    rest_share: float = 1 / 3  # the rest phase, as a share of the video (40 s of 120)
    procedure_share: tuple[float, float] = (0.33, 0.42)  # the procedure's share, drawn per baby (40-50 s)
    hand_passes: int = 2  # hands passing over the face, per video
    away: int = 1  # times the face leaves the view, per video
    blink_gap: tuple[float, float] = (2.0, 6.0)  # seconds between blinks
    roll_max_deg: float = 12.0  # the head's resting roll; motion adds up to about half as much again
    face_width: tuple[float, float] = (0.36, 0.48)  # face box width as a fraction of the frame
    tube_rate: float = 0.25
    blur_max: float = 1.0
    noise_max: float = 0.03
    segment_s: float = 10.0  # length of the labelled segments in segments.csv

    def __post_init__(self) -> None:
        checks = {
            "subjects": self.subjects >= 1,
            "seconds": self.seconds > 0,
            "fps": 0 < self.fps <= 120,
            "seed": self.seed >= 0,
            "size": self.size >= 32,
            "rest_share": 0.0 < self.rest_share < 1.0,
            "procedure_share": 0.0 < self.procedure_share[0] <= self.procedure_share[1]
            and self.rest_share + self.procedure_share[1] <= 1.0,
            "hand_passes": self.hand_passes >= 0,
            "away": self.away >= 0,
            "blink_gap": 0.0 < self.blink_gap[0] <= self.blink_gap[1],
            "roll_max_deg": 0.0 <= self.roll_max_deg <= 45.0,
            "face_width": 0.1 <= self.face_width[0] <= self.face_width[1] <= 0.6,
            "segment_s": self.segment_s > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"VideoConfig: invalid {name}={getattr(self, name)!r}")
        if self.frames < 1:
            raise ValueError(f"VideoConfig: {self.seconds} s at {self.fps} frames/s is not one frame")

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)

    def times(self) -> np.ndarray:
        return np.arange(self.frames, dtype=np.float64) / self.fps


@dataclass(frozen=True)
class Episode:
    """One stretch of an action: present from ``onset`` to ``offset``, rising to ``peak`` and fading."""

    action: str
    onset: float
    offset: float
    peak: float
    ramp: float  # seconds from onset to the peak
    fade: float  # seconds from the peak down to the offset

    def intensity(self, t: np.ndarray) -> np.ndarray:
        """FLOOR at onset, ``peak`` between the ramp and the fade, 0 outside [onset, offset)."""
        rise = (t - self.onset) / max(self.ramp, 1e-6)
        fall = (self.offset - t) / max(self.fade, 1e-6)
        level = np.clip(np.minimum(rise, fall), 0.0, 1.0)
        smooth = level * level * (3 - 2 * level)
        inside = (t >= self.onset) & (t < self.offset)
        return np.where(inside, FLOOR + (self.peak - FLOOR) * smooth, 0.0)


@dataclass(frozen=True)
class HandPass:
    """A hand crossing the face from one side to the other (face units, the face's own frame)."""

    start: float
    duration: float
    side: float  # +1 enters on the image's right
    y0: float
    y1: float
    size: float

    def at(self, t: float) -> tuple[tuple[float, float], float] | None:
        """The fist's offset and forearm angle at ``t``; None when the hand is not in the picture."""
        u = (t - self.start) / self.duration
        if not 0.0 <= u < 1.0:
            return None
        x0, x1 = 2.2 * self.side, -2.2 * self.side
        offset = (x0 + (x1 - x0) * u, self.y0 + (self.y1 - self.y0) * u)
        return offset, float(np.arctan2(self.y0 - self.y1, x0 - x1))  # the forearm trails behind


@dataclass(frozen=True)
class Away:
    """The face leaving the view: it slides out along ``direction``, stays out, and comes back."""

    start: float
    move: float
    stay: float
    direction: tuple[float, float]

    def share(self, t: np.ndarray) -> np.ndarray:
        """0 in view, 1 fully out; eased in and out."""
        out = np.clip((t - self.start) / self.move, 0, 1)
        back = np.clip((t - self.start - self.move - self.stay) / self.move, 0, 1)
        level = out - back
        return level * level * (3 - 2 * level)


@dataclass(frozen=True)
class Timeline:
    """One baby's video: phase boundaries, action episodes, blinks, motion, hand passes, leaving the view."""

    config: VideoConfig
    rest_end: float
    procedure_end: float
    episodes: tuple[Episode, ...]
    blinks: tuple[tuple[float, float], ...]
    passes: tuple[HandPass, ...]
    aways: tuple[Away, ...]
    eyes_open: float
    motion: np.ndarray  # (5, 3): roll, x, y, gaze x, gaze y as (amplitude, period s, phase) rows of sines
    roll0: float

    def phase(self, t: np.ndarray) -> np.ndarray:
        """Index into PHASES of each time."""
        return (t >= self.rest_end).astype(int) + (t >= self.procedure_end).astype(int)

    def intensities(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Each action's intensity at each time, with the stills' rules: mouth actions open the lips, and
        pursed lips never show with a horizontal stretch (the stretch wins)."""
        out = {a: np.zeros_like(t) for a in ACTIONS}
        for episode in self.episodes:
            out[episode.action] = np.maximum(out[episode.action], episode.intensity(t))
        needs_open = np.any([out[a] > 0 for a in _NEEDS_OPEN_LIPS], axis=0)
        out["open_lips"] = np.where(needs_open, np.maximum(out["open_lips"], FLOOR), out["open_lips"])
        out["lip_purse"] = np.where(out["mouth_stretch_horizontal"] > 0, 0.0, out["lip_purse"])
        return out

    def blinking(self, t: np.ndarray) -> np.ndarray:
        closed = np.zeros(t.shape, bool)
        for start, end in self.blinks:
            closed |= (t >= start) & (t < end)
        return closed

    def agitation(self, t: np.ndarray) -> np.ndarray:
        """1 at rest, rising smoothly to 2 during the procedure: a baby in pain moves its head more."""
        ramp = np.clip((t - self.rest_end) / 1.5, 0, 1) - np.clip((t - self.procedure_end) / 3.0, 0, 1)
        return 1.0 + np.clip(ramp, 0, 1)

    def wave(self, row: int, t: np.ndarray) -> np.ndarray:
        """Smooth motion channel ``row`` (two sines, the second at an unrelated period) in [-1, 1]."""
        amp, period, phase = self.motion[row]
        slow = np.sin(2 * np.pi * t / period + phase)
        quick = np.sin(2 * np.pi * t / (period * 0.37) + 2 * phase)
        return amp * (0.65 * slow + 0.35 * quick)

    def away_shift(self, t: np.ndarray) -> np.ndarray:
        """(n, 2) unit-free shift of the face out of the view (multiply by the frame size)."""
        shift = np.zeros((len(t), 2))
        for away in self.aways:
            shift += away.share(t)[:, None] * np.asarray(away.direction)[None, :]
        return shift


def _rng(config: VideoConfig, subject: int, part: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, subject, part])


def _pain_episodes(rng: np.random.Generator, start: float, end: float, seconds: float) -> list[Episode]:
    """The procedure's response: actions switch on after the start, ramp, flicker, fade after the end."""
    span = end - start
    severity = rng.uniform(0.4, 1.0)
    episodes: list[Episode] = []
    for action in ACTIONS:
        # Every draw is made for every action, so one action's outcome never shifts another's.
        present = rng.random() < PAIN_ODDS[action] * (0.5 + 0.5 * severity)
        peak = max(FLOOR, rng.uniform(0.4, 1.0) * (0.7 + 0.3 * severity))
        onset = start + span * rng.uniform(0.02, 0.25)
        offset = min(seconds, max(onset + 0.25 * span, end + span * rng.uniform(-0.3, 0.25)))
        ramp, fade = span * rng.uniform(0.03, 0.1), span * rng.uniform(0.05, 0.15)
        gaps = _gaps(rng, onset + ramp, offset - fade, span) if action in FLICKERING else []
        if present:
            episodes.extend(_split(Episode(action, onset, offset, peak, ramp, fade), gaps))
    # Pursed lips pull the corners in, a horizontal stretch pulls them out: one baby's response shows one.
    dropped = "lip_purse" if rng.random() < 0.5 else "mouth_stretch_horizontal"
    if {e.action for e in episodes} >= {"lip_purse", "mouth_stretch_horizontal"}:
        episodes = [e for e in episodes if e.action != dropped]
    return episodes


def _gaps(rng: np.random.Generator, lo: float, hi: float, span: float) -> list[tuple[float, float]]:
    """Half of the flickering actions switch off 1-3 times for a moment (sorted, non-overlapping)."""
    flicker = rng.random() < 0.5
    n = int(rng.integers(1, 4))
    starts, lengths = rng.uniform(lo, max(lo, hi), 3), span * rng.uniform(0.02, 0.06, 3)
    if not flicker or hi - lo <= 0:
        return []
    gaps, last = [], lo
    for s, length in sorted(zip(starts[:n], lengths[:n])):
        if s > last and s + length < hi:
            gaps.append((float(s), float(s + length)))
            last = s + length
    return gaps


def _split(episode: Episode, gaps: list[tuple[float, float]]) -> list[Episode]:
    """The episode with each gap cut out; later pieces switch back on quickly (a flicker, not a new rise)."""
    if not gaps:
        return [episode]
    bounds = [episode.onset, *[v for gap in gaps for v in gap], episode.offset]
    pieces = []
    for i in range(0, len(bounds), 2):
        onset, offset = bounds[i], bounds[i + 1]
        quick = min(0.15, (offset - onset) / 3)
        pieces.append(Episode(
            episode.action, onset, offset, episode.peak,
            episode.ramp if i == 0 else quick, episode.fade if i == len(bounds) - 2 else quick,
        ))
    return pieces


def _calm_episodes(rng: np.random.Generator, phases: list[tuple[float, float]]) -> list[Episode]:
    """At rest and in recovery actions are rare and brief (a yawn, a suck), as in the stills' rest state."""
    episodes = []
    for lo, hi in phases:
        for action in ACTIONS:
            happens = rng.random() < REST_ODDS[action]
            length = min(hi - lo, rng.uniform(0.6, 2.4))
            onset = lo + rng.uniform(0, max(0.0, hi - lo - length))
            peak = rng.uniform(0.3, 0.6)
            if happens and length > 0:
                episodes.append(Episode(action, onset, onset + length, peak, length / 4, length / 4))
    return episodes


def _blinks(rng: np.random.Generator, config: VideoConfig) -> tuple[tuple[float, float], ...]:
    blinks, t = [], rng.uniform(0.3, config.blink_gap[1])
    while t < config.seconds:
        length = rng.uniform(0.15, 0.35)
        blinks.append((float(t), float(t + length)))
        t += length + rng.uniform(*config.blink_gap)
    return tuple(blinks)


def _passes(rng: np.random.Generator, config: VideoConfig) -> tuple[HandPass, ...]:
    passes = []
    for _ in range(config.hand_passes):
        duration = min(config.seconds, rng.uniform(0.5, 2.0))
        start = rng.uniform(0, config.seconds - duration)
        side = float(rng.choice([-1.0, 1.0]))
        y0, y1 = rng.uniform(-0.35, 0.85, 2)
        size = 0.3 * rng.uniform(1.1, 1.4)  # a little larger than the stills' fists: fingers spread
        passes.append(HandPass(float(start), float(duration), side, float(y0), float(y1), float(size)))
    return tuple(passes)


def _aways(rng: np.random.Generator, config: VideoConfig) -> tuple[Away, ...]:
    aways = []
    for _ in range(config.away):
        move, stay = rng.uniform(0.3, 0.6), rng.uniform(0.5, 1.5)
        total = min(config.seconds, 2 * move + stay)
        scale = total / (2 * move + stay)  # a short video gets a shorter excursion, never none
        angle = rng.uniform(0, 2 * np.pi)
        start = rng.uniform(0, config.seconds - total)
        direction = (float(np.cos(angle)), float(np.sin(angle)))
        aways.append(Away(float(start), float(move * scale), float(stay * scale), direction))
    return tuple(aways)


def _motion(rng: np.random.Generator) -> np.ndarray:
    """Amplitudes (roll in radians, drift in face units, gaze), periods of 3-9 s, phases."""
    roll, drift = np.deg2rad(rng.uniform(2, 6)), rng.uniform(0.05, 0.15, 2)
    amplitude = np.array([roll, drift[0], drift[1], 0.6, 0.4])
    return np.stack([amplitude, rng.uniform(3, 9, 5), rng.uniform(0, 2 * np.pi, 5)], axis=1)


def plan(config: VideoConfig, subject: int) -> Timeline:
    """The timeline of one baby; depends only on (config, subject)."""
    rng = _rng(config, subject, _ACTIONS)
    rest_end = config.seconds * config.rest_share
    procedure_end = rest_end + config.seconds * rng.uniform(*config.procedure_share)
    episodes = _pain_episodes(rng, rest_end, procedure_end, config.seconds)
    episodes += _calm_episodes(rng, [(0.0, rest_end), (procedure_end, config.seconds)])
    motion_rng = _rng(config, subject, _MOTION)
    motion = _motion(motion_rng)
    return Timeline(
        config=config,
        rest_end=float(rest_end),
        procedure_end=float(procedure_end),
        episodes=tuple(sorted(episodes, key=lambda e: (e.onset, ACTIONS.index(e.action)))),
        blinks=_blinks(_rng(config, subject, _BLINKS), config),
        passes=_passes(_rng(config, subject, _PASSES), config),
        aways=_aways(_rng(config, subject, _AWAY), config),
        eyes_open=float(motion_rng.uniform(0.5, 1.0)),
        motion=motion,
        roll0=float(np.deg2rad(motion_rng.uniform(-config.roll_max_deg, config.roll_max_deg))),
    )
