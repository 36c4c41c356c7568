"""One synthetic scene put together: the cot, the head placed in it, the cot's and the ward's occluders, the
lights and the camera; with the truth a picture needs (region masks, the regions hidden, the landmarks,
the conditions shown). Stills (``synthetic``) and video frames (``synth_video``) both render here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from neopain.data.synth_draw import Canvas, Light, rotate_light
from neopain.data.synth_face import EXTENT, render_head
from neopain.data.synth_identity import Expression, Identity, face_ellipse
from neopain.data.synth_scene import Placement, background, camera, finger, hand, swaddle, tube
from neopain.data.synth_ward import WardPlan, draw_occluders, infrared_frame, phototherapy_light
from neopain.scales.nfcs import REGIONS, region_bit

if TYPE_CHECKING:
    from neopain.data.synthetic import SynthConfig

# A region counts as hidden when less than this share of it shows (under an occluder or outside the frame).
HIDDEN_BELOW = 0.5
# A pixel counts as covered under at least this much of an occluder's opacity.
_COVERED_FROM = 0.5


def half_extents(ident: Identity, scale: float, roll: float) -> tuple[float, float]:
    """Half-width and half-height in pixels of the axis-aligned box around the rotated face ellipse."""
    _, (ax, by) = face_ellipse(ident)
    c, s = np.cos(roll), np.sin(roll)
    return float(scale * np.hypot(ax * c, by * s)), float(scale * np.hypot(ax * s, by * c))


def face_box(ident: Identity, place: Placement) -> tuple[float, float, float, float]:
    """The tight axis-aligned box (x, y, w, h) in image pixels around the rotated face ellipse."""
    (fx, fy), _ = face_ellipse(ident)
    cx, cy = place.to_image(np.array([(fx, fy)]))[0]
    hx, hy = half_extents(ident, place.scale, place.roll)
    return (round(cx - hx, 2), round(cy - hy, 2), round(2 * hx, 2), round(2 * hy, 2))


def face_landmarks(ident: Identity, place: Placement) -> tuple[float, ...]:
    """The five points a detector gives (right eye, left eye, nose tip, right and left mouth corner; the
    subject's right is the image's left when upright), at rest, in image pixels, flattened."""
    points = np.array([
        (-ident.eye_dx, ident.eye_y), (ident.eye_dx, ident.eye_y), (0.0, ident.nose_y),
        (-ident.mouth_w, ident.mouth_y), (ident.mouth_w, ident.mouth_y),
    ])
    return tuple(round(float(v), 2) for v in place.to_image(points).ravel())


def hidden_regions(mask: np.ndarray, head_mask: np.ndarray, under: np.ndarray) -> tuple[str, ...]:
    """Regions of which less than HIDDEN_BELOW shows: the head's canvas has one pixel per image pixel, so
    its region areas are what the picture would show with nothing in the way."""
    hidden = []
    for region in REGIONS:
        bit = np.uint8(region_bit(region))
        full = int(np.count_nonzero(head_mask & bit))
        seen = int(np.count_nonzero(((mask & bit) > 0) & ~under))
        if full and seen < HIDDEN_BELOW * full:
            hidden.append(region)
    return tuple(hidden)


def _warp_mask(
    mask: np.ndarray, matrix: np.ndarray, size: int, box: tuple[float, float, float, float]
) -> np.ndarray:
    """Regions in image pixels, cut to the face box so rounding never puts a region outside it."""
    out = cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_NEAREST, borderValue=0)
    x, y, w, h = box
    keep = np.zeros_like(out)
    keep[int(np.ceil(y)) : int(np.floor(y + h)) + 1, int(np.ceil(x)) : int(np.floor(x + w)) + 1] = 1
    return out * keep


@dataclass(frozen=True)
class SceneDraws:
    """The random streams one scene draws from, in this order: backdrop, head detail, cot, camera, grain.

    A still draws them all from its one generator (``SceneDraws.one``); a video gives each its own, seeded
    per video, so the cot and the camera stay put while the face moves and only the grain changes. The
    ward's conditions (``ward``) are planned apart, so a benchmark without them keeps its bytes.
    """

    backdrop: np.random.Generator
    head: np.random.Generator
    cot: np.random.Generator
    camera: np.random.Generator
    grain: np.random.Generator
    ward: WardPlan | None = None
    ward_grain: np.random.Generator | None = None

    @classmethod
    def one(cls, rng: np.random.Generator) -> SceneDraws:
        return cls(rng, rng, rng, rng, rng)


@dataclass(frozen=True)
class Scene:
    """A rendered scene: the picture, its region mask in image pixels, the head's unclipped mask, what
    covers the face (coverage 0..1 in image pixels), the conditions shown and the regions hidden."""

    pixels: np.ndarray  # uint8 BGR
    mask: np.ndarray  # uint8, bit i = region i, clipped to the face box
    head_mask: np.ndarray  # the same regions on the head's own canvas (one canvas pixel ~ one image pixel)
    cover: np.ndarray
    conditions: tuple[str, ...]

    def hidden(self, extra_cover: np.ndarray | None = None) -> tuple[str, ...]:
        """The hidden regions, counting ``extra_cover`` (a video's passing hands) too."""
        cover = self.cover if extra_cover is None else np.maximum(self.cover, extra_cover)
        return hidden_regions(self.mask, self.head_mask, cover >= _COVERED_FROM)


Overlay = Callable[[np.ndarray], None]


def render_scene(
    config: SynthConfig,
    ident: Identity,
    expr: Expression,
    place: Placement,
    light: Light,
    draws: SceneDraws,
    overlay: Overlay | None = None,
) -> Scene:
    """The head making ``expr`` placed in the cot, the occluders, ``overlay`` (drawn last), the camera."""
    image = background(config.size, draws.backdrop)
    canvas = Canvas(ppu=place.scale, extent=EXTENT)
    head = render_head(ident, expr, canvas, rotate_light(light, place.roll), draws.head)
    matrix = place.canvas_matrix(canvas)
    prem = cv2.warpAffine(
        head.rgb * head.alpha[..., None], matrix, (config.size, config.size), flags=cv2.INTER_LINEAR
    )
    alpha = cv2.warpAffine(head.alpha, matrix, (config.size, config.size), flags=cv2.INTER_LINEAR)[..., None]
    image = image * (1 - alpha) + prem
    cover, conditions = _cot(config, image, place, ident, light, draws.cot)
    plan = draws.ward
    if plan is not None:
        cover = np.maximum(cover, draw_occluders(image, place, ident, plan))
        conditions += plan.conditions
        if "phototherapy" in plan.conditions:
            image = phototherapy_light(image)
    if overlay is not None:
        overlay(image)
    pixels = camera(image, draws.camera, config.blur_max, config.noise_max, draws.grain,
                    config.camera_gains)
    if plan is not None and "infrared" in plan.conditions:
        pixels = infrared_frame(pixels, draws.ward_grain or draws.grain)
    mask = _warp_mask(head.mask, matrix, config.size, face_box(ident, place))
    return Scene(pixels, mask, head.mask, cover, conditions)


def _cot(
    config: SynthConfig,
    image: np.ndarray,
    place: Placement,
    ident: Identity,
    light: Light,
    rng: np.random.Generator,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Swaddle, fists, tube and a caregiver's finger, each as often as the config says; their coverage and
    the names of those drawn."""
    swaddle(image, place, rng)
    cover = np.zeros(image.shape[:2], np.float32)
    drawn: list[str] = []
    for _ in range(int(rng.random() < config.hand_rate) * int(rng.integers(1, 3))):
        cover = np.maximum(cover, hand(image, place, ident, light, rng))
        drawn.append("fist")
    if rng.random() < config.tube_rate:
        cover = np.maximum(cover, tube(image, place, ident, rng))
        drawn.append("tube")
    if rng.random() < config.finger_rate:
        cover = np.maximum(cover, finger(image, place, light, rng))
        drawn.append("finger")
    return cover, tuple(dict.fromkeys(drawn))
