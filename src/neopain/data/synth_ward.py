"""The ward's conditions on a synthetic face: phototherapy (blue light, eye shields), infrared night frames,
CPAP nasal prongs or mask with straps, a pacifier, tape, a caregiver's hand.

Each occluder is drawn in image pixels (a float RGB image, 0..1, before the camera) from face units placed
by the scene's ``Placement``, and returns its coverage so the regions it hides can be named. The lights
change the whole picture: phototherapy before the camera (it is the light the camera sees), infrared after
it (the night camera's own grey, flat, grainy frame). Nothing here depends on the pain state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from neopain.data.synth_draw import bezier, soften
from neopain.data.synth_identity import Identity
from neopain.data.synth_scene import Placement

# The manifest's ``conditions`` words this module draws (the cot's own occluders are named in synthetic.py).
WARD_CONDITIONS = (
    "phototherapy", "eye_shields", "infrared", "cpap_prongs", "cpap_mask", "pacifier", "tape",
    "caregiver_hand",
)
# Phototherapy lamps are blue (430-490 nm): red and green fall, blue rises, and the scene is lit strongly.
_PHOTO_RGB = np.array([0.42, 0.72, 1.45], np.float32)
_SHIELDS = np.array([(0.08, 0.09, 0.12), (0.15, 0.22, 0.45), (0.93, 0.93, 0.95), (0.32, 0.2, 0.4)], np.float32)
_PLASTIC = np.array([(0.9, 0.94, 0.97), (0.72, 0.86, 0.95), (0.95, 0.9, 0.8)], np.float32)
_PACIFIER = np.array([(0.95, 0.6, 0.7), (0.55, 0.75, 0.95), (0.96, 0.88, 0.45), (0.7, 0.9, 0.75)], np.float32)
_TAPE = np.array([(0.95, 0.94, 0.9), (0.88, 0.76, 0.62), (0.8, 0.9, 0.95)], np.float32)
_GLOVES = np.array([(0.45, 0.52, 0.86), (0.58, 0.47, 0.82), (0.93, 0.89, 0.8)], np.float32)


@dataclass(frozen=True)
class WardRates:
    """How often each condition is drawn (0: never; the default benchmark draws none)."""

    phototherapy: float = 0.0
    infrared: float = 0.0
    cpap: float = 0.0  # half nasal prongs, half a mask
    pacifier: float = 0.0
    tape: float = 0.0
    caregiver_hand: float = 0.0

    @property
    def any(self) -> bool:
        return any(v > 0 for v in vars(self).values())


@dataclass(frozen=True)
class WardPlan:
    """The conditions one picture shows, drawn before any pixel so a video keeps them for every frame."""

    conditions: tuple[str, ...]
    shield: int = 0
    plastic: int = 0
    colour: int = 0
    side: float = 1.0
    jitter: tuple[float, ...] = (0.0,) * 6

    @classmethod
    def draw(cls, rates: WardRates, rng: np.random.Generator) -> WardPlan:
        chosen: list[str] = []
        if rng.random() < rates.phototherapy:
            chosen += ["phototherapy", "eye_shields"]  # shields are always on under the lamps
        elif rng.random() < rates.infrared:
            chosen.append("infrared")
        if rng.random() < rates.cpap:
            chosen.append("cpap_prongs" if rng.random() < 0.5 else "cpap_mask")
        elif rng.random() < rates.pacifier:
            chosen.append("pacifier")
        if rng.random() < rates.tape:
            chosen.append("tape")
        if rng.random() < rates.caregiver_hand:
            chosen.append("caregiver_hand")
        return cls(
            tuple(chosen), int(rng.integers(len(_SHIELDS))), int(rng.integers(len(_PLASTIC))),
            int(rng.integers(len(_PACIFIER))), float(rng.choice([-1.0, 1.0])),
            tuple(float(v) for v in rng.uniform(-1, 1, 6)),
        )


def _polygon_cover(size: int, polygons: Sequence[np.ndarray], blur: float = 0.6) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    cv2.fillPoly(layer, [np.round(p * 16).astype(np.int32) for p in polygons], 255, cv2.LINE_AA, 4)
    return soften(layer.astype(np.float32) / 255, blur)


def _line_cover(size: int, points: np.ndarray, width_px: float) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    cv2.polylines(layer, [np.round(points * 16).astype(np.int32)], False, 255, max(1, round(width_px)),
                  cv2.LINE_AA, 4)
    return layer.astype(np.float32) / 255


def _ellipse(centre: Sequence[float], axes: Sequence[float], n: int = 40) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + axes[0] * np.cos(a), centre[1] + axes[1] * np.sin(a)], axis=1)


def _lay(image: np.ndarray, cover: np.ndarray, colour: np.ndarray, opacity: float, place: Placement) -> np.ndarray:
    """Blend ``colour`` over ``cover`` with a soft top-lit gradient; returns the coverage drawn."""
    size = image.shape[0]
    _, v = place.face_grid(size)
    shade = np.clip(1.05 - 0.12 * v, 0.75, 1.1)[..., None]
    a = (cover * opacity)[..., None]
    image *= 1 - a
    image += a * np.clip(colour * shade, 0, 1)
    return cover * opacity


def eye_shields(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """Opaque phototherapy eye shields: a pad over each eye and the band holding them round the head."""
    size = image.shape[0]
    j = plan.jitter
    w, h = ident.eye_w * (1.45 + 0.1 * j[0]), ident.eye_h * (2.3 + 0.2 * j[1])
    pads = [place.to_image(_ellipse((s * ident.eye_dx, ident.eye_y + 0.01 * j[2]), (w, h))) for s in (-1, 1)]
    band_y = ident.eye_y + 0.02 * j[3]
    band = place.to_image(np.array([(-1.6, band_y - 0.06), (1.6, band_y - 0.06), (1.6, band_y + 0.06),
                                     (-1.6, band_y + 0.06)]))
    colour = _SHIELDS[plan.shield]
    cover = _lay(image, _polygon_cover(size, [band]), colour * 0.9, 0.95, place)
    return np.maximum(cover, _lay(image, _polygon_cover(size, pads), colour, 1.0, place))


def cpap_prongs(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """Nasal prongs: a bar under the nose with its two tubes running off both cheeks, and a fixing strap."""
    size = image.shape[0]
    y = ident.nose_y + 0.07
    colour = _PLASTIC[plan.plastic]
    bar = place.to_image(np.array([(-0.22, y - 0.05), (0.22, y - 0.05), (0.24, y + 0.06), (-0.24, y + 0.06)]))
    cover = _lay(image, _polygon_cover(size, [bar]), colour, 0.92, place)
    for s in (-1.0, 1.0):
        path = place.to_image(bezier((s * 0.2, y), (s * 0.6, y - 0.02 + 0.05 * plan.jitter[4]), (s * 1.8, y - 0.3), 24))
        tube = _line_cover(size, path, 0.11 * place.scale)
        cover = np.maximum(cover, _lay(image, tube, colour * 0.95, 0.9, place))
    strap = place.to_image(bezier((-1.6, y - 0.1), (0.0, y - 0.16), (1.6, y - 0.1), 24))
    return np.maximum(cover, _lay(image, _line_cover(size, strap, 0.05 * place.scale), colour * 0.8, 0.8, place))


def cpap_mask(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """A CPAP mask over nose and mouth (frosted plastic, a bright rim) with its straps."""
    size = image.shape[0]
    top, bottom = ident.nose_y - 0.2, ident.mouth_y + 0.14 + 0.03 * plan.jitter[0]
    half = ident.mouth_w * 1.9 + 0.05
    outline = np.array([(0.0, top), (half * 0.7, top + 0.12), (half, bottom - 0.1), (half * 0.7, bottom),
                        (-half * 0.7, bottom), (-half, bottom - 0.1), (-half * 0.7, top + 0.12)])
    colour = _PLASTIC[plan.plastic]
    cover = _lay(image, _polygon_cover(size, [place.to_image(outline)], 1.0), colour, 0.88, place)
    rim = np.vstack([outline, outline[:1]])
    _lay(image, _line_cover(size, place.to_image(rim), 0.04 * place.scale), np.ones(3, np.float32), 0.6, place)
    for s in (-1.0, 1.0):
        strap = place.to_image(np.array([(s * half, bottom - 0.15), (s * 1.7, ident.eye_y + 0.1 * plan.jitter[5])]))
        cover = np.maximum(cover, _lay(image, _line_cover(size, strap, 0.07 * place.scale), colour * 0.7, 0.9, place))
    return cover


def pacifier(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """A pacifier's shield over the mouth, with its ring."""
    size = image.shape[0]
    centre = (0.02 * plan.jitter[0], ident.mouth_y + 0.02)
    colour = _PACIFIER[plan.colour]
    shield = place.to_image(_ellipse(centre, (ident.mouth_w * 1.5 + 0.03, 0.15)))
    cover = _lay(image, _polygon_cover(size, [shield], 0.8), colour, 0.95, place)
    ring = place.to_image(_ellipse((centre[0], centre[1] + 0.02), (0.1, 0.09)))
    ring = np.vstack([ring, ring[:1]])
    _lay(image, _line_cover(size, ring, 0.03 * place.scale), colour * 0.75, 0.9, place)
    return cover


def tape(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """Tape across the cheeks to the upper lip (it holds prongs or a tube)."""
    size = image.shape[0]
    y = (ident.nose_y + ident.mouth_y) / 2 + 0.02 * plan.jitter[1]
    strips = [place.to_image(np.array([(s * 0.08, y - 0.05), (s * 0.75, y - 0.12), (s * 0.78, y + 0.04),
                                       (s * 0.08, y + 0.06)])) for s in (-1.0, 1.0)]
    return _lay(image, _polygon_cover(size, strips), _TAPE[plan.colour % len(_TAPE)], 0.85, place)


def caregiver_hand(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """A gloved adult hand from one side over the brow and an eye (holding the head still)."""
    size = image.shape[0]
    s, j = plan.side, plan.jitter
    palm = _ellipse((s * 1.25, ident.brow_y + 0.1 * j[2]), (0.55, 0.45))
    fingers = []
    for k in range(4):
        y = ident.brow_y - 0.18 + k * 0.14 + 0.04 * j[3]
        tip = s * (0.05 + 0.12 * j[4] - 0.06 * abs(k - 1.5))
        fingers.append(np.array([(s * 1.0, y - 0.06), (tip, y - 0.05), (tip - s * 0.05, y + 0.06),
                                 (s * 1.0, y + 0.06)]))
    polygons = [place.to_image(p) for p in (palm, *fingers)]
    return _lay(image, _polygon_cover(size, polygons, 1.0), _GLOVES[plan.shield % len(_GLOVES)], 1.0, place)


OCCLUDERS = {
    "eye_shields": eye_shields, "cpap_prongs": cpap_prongs, "cpap_mask": cpap_mask, "pacifier": pacifier,
    "tape": tape, "caregiver_hand": caregiver_hand,
}


def draw_occluders(image: np.ndarray, place: Placement, ident: Identity, plan: WardPlan) -> np.ndarray:
    """Every occluder of the plan, in a fixed order; returns their joint coverage."""
    cover = np.zeros(image.shape[:2], np.float32)
    for name, draw in OCCLUDERS.items():
        if name in plan.conditions:
            cover = np.maximum(cover, draw(image, place, ident, plan))
    return cover


def phototherapy_light(image: np.ndarray) -> np.ndarray:
    """The blue lamps' light on the whole scene (linear RGB, before the camera)."""
    return np.clip(image * _PHOTO_RGB * 1.15, 0, 1.2)


def infrared_frame(bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A night camera's frame: grey (skin bright in near infrared), flat, grainy, with its own vignette."""
    b, g, r = (bgr[..., i].astype(np.float32) / 255 for i in range(3))
    grey = 0.15 * b + 0.3 * g + 0.55 * r
    grey = 0.55 + 0.85 * (grey - grey.mean())  # flatter: the IR lamp lights from the camera
    size = grey.shape[0]
    axis = np.arange(size, dtype=np.float32) / size - 0.5
    grey *= 1 - 0.5 * (axis[None, :] ** 2 + axis[:, None] ** 2)
    grey = soften(grey, 0.6) + rng.normal(0, 0.035, grey.shape).astype(np.float32)
    out = (np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)
