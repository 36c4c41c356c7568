"""Who the synthetic baby is (identity, fixed per subject) and what the face does (expression, per image)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neopain.scales.nfcs import ACTIONS

RGB = tuple[float, float, float]

# Skin tones from very light to very dark, as RGB anchors; a subject's tone interpolates between them.
_SKIN_ANCHORS = np.array(
    [
        (0.97, 0.80, 0.73),
        (0.91, 0.68, 0.56),
        (0.78, 0.54, 0.41),
        (0.58, 0.38, 0.27),
        (0.38, 0.24, 0.17),
    ],
    np.float32,
)
_CAP_COLOURS = np.array(
    [
        (0.93, 0.93, 0.90),
        (0.72, 0.84, 0.95),
        (0.97, 0.76, 0.82),
        (0.80, 0.92, 0.78),
        (0.98, 0.92, 0.66),
        (0.85, 0.80, 0.93),
        (0.55, 0.70, 0.88),
    ],
    np.float32,
)
_IRIS_COLOURS = np.array([(0.24, 0.28, 0.35), (0.20, 0.15, 0.12), (0.30, 0.33, 0.38)], np.float32)
_HAIR_COLOURS = np.array(
    [(0.10, 0.08, 0.07), (0.28, 0.19, 0.12), (0.55, 0.42, 0.28), (0.18, 0.13, 0.10)], np.float32
)


def _pick(rng: np.random.Generator, palette: np.ndarray) -> RGB:
    return tuple(float(v) for v in palette[rng.integers(len(palette))])  # type: ignore[return-value]


def skin_tone(t: float) -> np.ndarray:
    """RGB skin colour at position t in [0, 1] along the light-to-dark anchors."""
    pos = np.clip(t, 0.0, 1.0) * (len(_SKIN_ANCHORS) - 1)
    i = min(int(pos), len(_SKIN_ANCHORS) - 2)
    f = pos - i
    return (1 - f) * _SKIN_ANCHORS[i] + f * _SKIN_ANCHORS[i + 1]


@dataclass(frozen=True)
class Identity:
    """A subject's fixed appearance: skin, head and feature geometry, cap or hair."""

    sex: str
    skin: RGB
    lip: RGB
    iris: RGB
    blush: float
    face_h: float  # vertical half-axis of the face ellipse (horizontal is 1)
    cheek: float  # cheek fullness
    cranium: tuple[float, float, float]  # centre y, half-width, half-height
    eye_y: float
    eye_dx: float
    eye_w: float
    eye_h: float
    brow_y: float
    brow_tone: float
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_t: float
    fold_base: float  # resting depth of the nasolabial fold (chubby cheeks make one)
    chin_base: float
    ear: float
    cap: bool
    cap_colour: RGB
    stripe_colour: RGB
    stripes: float  # stripes per face unit, 0 for a plain cap
    cap_edge: float
    hair_colour: RGB
    hair: float
    detail_seed: int  # hair strands and skin detail, stable for the subject


def sample_identity(rng: np.random.Generator, tones: tuple[float, float] = (0.0, 1.0)) -> Identity:
    """Draw one subject, its skin within ``tones`` of the light-to-dark axis; the ranges stay within what
    reads as a newborn's face."""
    skin = skin_tone(rng.uniform(*tones)) + np.array([rng.uniform(-0.02, 0.05), rng.uniform(-0.03, 0.03), 0.0])
    skin = np.clip(skin, 0, 1)
    lip = np.clip(skin * np.array([0.92, 0.62, 0.62]) + np.array([0.06, 0.0, 0.02]), 0, 1)
    eye_y = rng.uniform(-0.16, -0.06)
    mouth_y = rng.uniform(0.47, 0.55)
    cap = bool(rng.random() < 0.6)
    return Identity(
        sex=str(rng.choice(["F", "M"])),
        skin=tuple(float(v) for v in skin),  # type: ignore[arg-type]
        lip=tuple(float(v) for v in lip),  # type: ignore[arg-type]
        iris=_pick(rng, _IRIS_COLOURS),
        blush=float(rng.uniform(0.08, 0.3)),
        face_h=float(rng.uniform(0.95, 1.06)),
        cheek=float(rng.uniform(0.5, 1.0)),
        cranium=(
            float(rng.uniform(-0.55, -0.42)),
            float(rng.uniform(1.0, 1.1)),
            float(rng.uniform(1.05, 1.18)),
        ),
        eye_y=float(eye_y),
        eye_dx=float(rng.uniform(0.34, 0.42)),
        eye_w=float(rng.uniform(0.16, 0.21)),
        eye_h=float(rng.uniform(0.065, 0.09)),
        brow_y=float(eye_y - rng.uniform(0.2, 0.26)),
        brow_tone=float(rng.uniform(0.08, 0.4)),
        nose_y=float(rng.uniform(0.17, 0.24)),
        nose_w=float(rng.uniform(0.12, 0.17)),
        mouth_y=float(mouth_y),
        mouth_w=float(rng.uniform(0.15, 0.2)),
        lip_t=float(rng.uniform(0.035, 0.05)),
        fold_base=float(rng.uniform(0.04, 0.18)),
        chin_base=float(rng.uniform(0.05, 0.25)),
        ear=float(rng.uniform(0.9, 1.1)),
        cap=cap,
        cap_colour=_pick(rng, _CAP_COLOURS),
        stripe_colour=_pick(rng, _CAP_COLOURS),
        stripes=float(rng.choice([0.0, 0.0, rng.uniform(3.0, 6.0)])),
        cap_edge=float(rng.uniform(-0.95, -0.62)),
        hair_colour=_pick(rng, _HAIR_COLOURS),
        hair=float(rng.uniform(0.1, 1.0)),
        detail_seed=int(rng.integers(2**31)),
    )


@dataclass(frozen=True)
class Expression:
    """What the face does in one image: an intensity in [0, 1] per NFCS action (0 = absent)."""

    intensity: dict[str, float] = field(default_factory=dict)
    eyes_open: float = 0.0  # 0: closed (asleep or squeezed), up to 1: wide open
    gaze: tuple[float, float] = (0.0, 0.0)

    def __getitem__(self, action: str) -> float:
        if action not in ACTIONS:
            raise KeyError(f"unknown NFCS action '{action}'")
        return float(self.intensity.get(action, 0.0))

    def present(self) -> dict[str, int]:
        return {a: int(self[a] > 0) for a in ACTIONS}


def face_ellipse(identity: Identity) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centre and half-axes (face units) of the ellipse the face box is drawn around."""
    return (0.0, 0.03), (1.0 + 0.04 * identity.cheek, identity.face_h)
