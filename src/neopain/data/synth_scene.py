"""The cot around the face: sheet, swaddle, hands, tubes and tape, a caregiver's finger; then the camera
(lighting gradient, colour cast, blur, sensor noise). Nothing here depends on the pain state.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from neopain.data.synth_draw import Canvas, Light, bezier, ellipse_alpha, ellipsoid_height, shade, soften
from neopain.data.synth_identity import Identity

_FABRIC = np.array(
    [
        (0.95, 0.95, 0.93),
        (0.93, 0.90, 0.82),
        (0.78, 0.87, 0.95),
        (0.96, 0.82, 0.86),
        (0.82, 0.93, 0.84),
        (0.97, 0.93, 0.74),
        (0.80, 0.80, 0.82),
        (0.62, 0.74, 0.88),
    ],
    np.float32,
)
_GLOVES = np.array([(0.45, 0.52, 0.86), (0.58, 0.47, 0.82), (0.93, 0.89, 0.80)], np.float32)
_TAPE = np.array([(0.95, 0.94, 0.92), (0.86, 0.74, 0.6), (0.92, 0.9, 0.86)], np.float32)


@dataclass(frozen=True)
class Placement:
    """Where the face sits in the image: centre (px), pixels per face unit, roll (radians)."""

    centre: tuple[float, float]
    scale: float
    roll: float

    def rotation(self) -> np.ndarray:
        c, s = np.cos(self.roll), np.sin(self.roll)
        return np.array([[c, -s], [s, c]])

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Face units to image pixels."""
        return np.asarray(points, np.float64) @ (self.scale * self.rotation()).T + np.asarray(self.centre)

    def canvas_matrix(self, canvas: Canvas, offset=(0.0, 0.0), angle: float = 0.0) -> np.ndarray:
        """2x3 affine from a canvas (drawn at ``offset`` face units, turned by ``angle``) to the image."""
        c, s = np.cos(angle), np.sin(angle)
        local = np.array([[c, -s], [s, c]]) / canvas.ppu
        linear = self.scale * self.rotation() @ local
        shift = self.to_image(np.asarray([offset]))[0] - linear @ np.array([canvas.extent * canvas.ppu] * 2)
        return np.hstack([linear, shift[:, None]]).astype(np.float64)

    def face_grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Face-unit coordinates of every image pixel."""
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        inv = self.rotation().T / self.scale
        dx, dy = xs - self.centre[0], ys - self.centre[1]
        return (inv[0, 0] * dx + inv[0, 1] * dy).astype(np.float32), (inv[1, 0] * dx + inv[1, 1] * dy).astype(
            np.float32
        )


def _fabric(rng: np.random.Generator) -> np.ndarray:
    return _FABRIC[rng.integers(len(_FABRIC))]


def _folds(
    u: np.ndarray, v: np.ndarray, rng: np.random.Generator, strength: float, freq: float
) -> np.ndarray:
    """Soft cloth folds: a few random low-frequency waves (computed coarse, they are smooth)."""
    cu, cv = u[::4, ::4], v[::4, ::4]
    out = np.ones_like(cu)
    for _ in range(3):
        a = rng.uniform(0, np.pi)
        f = rng.uniform(0.5, 1.5) * freq
        out += strength * np.sin(f * (np.cos(a) * cu + np.sin(a) * cv) + rng.uniform(0, 2 * np.pi)) / 3
    return cv2.resize(out, (u.shape[1], u.shape[0]), interpolation=cv2.INTER_LINEAR)


def _pattern(
    u: np.ndarray, v: np.ndarray, base: np.ndarray, rng: np.random.Generator, period: float
) -> np.ndarray:
    """Plain, striped or dotted fabric in its own coordinates."""
    image = np.broadcast_to(base, (*u.shape, 3)).copy()
    kind = rng.integers(3)
    ink = np.clip(base * rng.uniform(0.6, 0.85, 3), 0, 1)
    if kind == 1:
        band = np.clip(np.sin(v * 2 * np.pi / period + rng.uniform(0, 6)) * 3 - 1.5, 0, 1)
    elif kind == 2:
        band = np.clip(1.5 - 4 * np.hypot(np.sin(u * np.pi / period), np.sin(v * np.pi / period)), 0, 1)
    else:
        return image
    return image * (1 - band[..., None]) + ink * band[..., None]


def _upsample(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """The cot sheet, sometimes with an incubator wall across one side (drawn at half size: it is soft)."""
    half = max(size // 2, 16)
    ys, xs = np.mgrid[0:half, 0:half].astype(np.float32) / half
    a = rng.uniform(0, np.pi)
    u, v = np.cos(a) * xs + np.sin(a) * ys, -np.sin(a) * xs + np.cos(a) * ys
    image = (
        _pattern(u, v, _fabric(rng), rng, rng.uniform(0.04, 0.12)) * _folds(u, v, rng, 0.12, 12.0)[..., None]
    )
    if rng.random() < 0.3:
        side = np.clip((u - rng.uniform(0.7, 0.95)) * half * 0.5, 0, 1)[..., None]
        image = image * (1 - side) + rng.uniform(0.3, 0.8, 3).astype(np.float32) * side
    return _upsample(image.astype(np.float32), size)


def swaddle(image: np.ndarray, place: Placement, rng: np.random.Generator) -> None:
    """A blanket over the body, rising along the sides of the head when swaddled; casts a soft shadow."""
    size = image.shape[0]
    u, v = place.face_grid(size)
    rise = rng.uniform(0.0, 0.7) if rng.random() < 0.6 else 0.0
    level, wave, phase, tilt = (
        rng.uniform(0.88, 1.35),
        rng.uniform(3, 7),
        rng.uniform(0, 6),
        rng.uniform(-0.15, 0.15),
    )

    def edge_at(x: np.ndarray) -> np.ndarray:
        return level - rise * np.abs(x) ** 1.5 + 0.05 * np.sin(x * wave + phase) + tilt * x

    edge = edge_at(u)
    inside = np.clip((v - edge) * place.scale + 0.5, 0, 1)
    # The cloth's texture is smooth: draw it at half size.
    hu, hv = u[::2, ::2], v[::2, ::2]
    cloth = _pattern(hu, hv, _fabric(rng), rng, rng.uniform(0.15, 0.35))
    roll = 1 + 0.12 * np.exp(-((((hv - edge_at(hu)) - 0.08) / 0.06) ** 2))
    cloth = _upsample((cloth * (_folds(hu, hv, rng, 0.25, 3.0) * roll)[..., None]).astype(np.float32), size)
    shadow = 1 - 0.3 * np.exp(-np.clip(edge - v, 0, None) / 0.07) * (v < edge)
    image *= shadow[..., None]
    a = inside[..., None]
    image *= 1 - a
    image += a * cloth


def _ellipsoids(
    canvas: Canvas, parts: list[tuple[tuple[float, float], tuple[float, float], float]], light: Light
):
    """Height, shading and coverage of a union of ellipsoids (fists, fingers)."""
    gx, gy = canvas.grid()
    height = np.zeros_like(gx)
    alpha = np.zeros_like(gx)
    for centre, axes, depth in parts:
        height = np.maximum(height, ellipsoid_height(gx, gy, centre, axes, depth))
        alpha = np.maximum(alpha, ellipse_alpha(canvas, gx, gy, centre, axes))
    diffuse, spec = shade(soften(height, 0.02 * canvas.ppu), canvas, light)
    return diffuse, spec, alpha


def _paste(image: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp a premultiplied layer into the image and blend it over; returns its coverage in image pixels."""
    size = image.shape[0]
    prem = cv2.warpAffine(rgb * alpha[..., None], matrix, (size, size), flags=cv2.INTER_LINEAR)
    a = cv2.warpAffine(alpha, matrix, (size, size), flags=cv2.INTER_LINEAR)[..., None]
    image *= 1 - a
    image += prem
    return a[..., 0]


def hand(
    image: np.ndarray, place: Placement, ident: Identity, light: Light, rng: np.random.Generator
) -> np.ndarray:
    """A newborn's fist near the face (sometimes over a cheek or the mouth), with its forearm; returns its
    coverage."""
    s = 0.3 * rng.uniform(0.85, 1.15)
    angle = rng.uniform(-np.pi, np.pi)
    side = rng.choice([-1.0, 1.0])
    offset = (side * rng.uniform(0.55, 1.15), rng.uniform(0.0, 1.0))
    outward = np.arctan2(offset[1], offset[0]) + rng.uniform(-0.6, 0.6)
    return fist(image, place, ident, light, s, offset, outward if rng.random() < 0.8 else angle)


def fist(
    image: np.ndarray,
    place: Placement,
    ident: Identity,
    light: Light,
    s: float,
    offset: tuple[float, float],
    angle: float,
) -> np.ndarray:
    """A fist of half-size ``s`` (face units) at ``offset``, forearm along ``angle``; returns its coverage."""
    canvas = Canvas(ppu=max(place.scale, 4.0), extent=1.0)
    parts = [((0.0, 0.0), (s, s * 0.85), 0.25), ((s * 1.5, 0.05), (s * 1.6, s * 0.75), 0.22)]
    for j in range(4):
        parts.append(((-s * 0.8, -s * 0.62 + j * s * 0.42), (s * 0.3, s * 0.25), 0.14))
    parts.append(((-s * 0.3, s * 0.8), (s * 0.42, s * 0.22), 0.12))
    diffuse, spec, alpha = _ellipsoids(canvas, parts, light)
    skin = np.clip(np.asarray(ident.skin, np.float32) * np.array([1.02, 0.95, 0.95]), 0, 1)
    rgb = skin * diffuse[..., None] + spec[..., None]
    return _paste(image, rgb.astype(np.float32), alpha, place.canvas_matrix(canvas, offset, angle))


def _stroke(size: int, points: np.ndarray, width_px: float) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    cv2.polylines(
        layer,
        [np.round(points * 16).astype(np.int32)],
        False,
        255,
        max(1, round(width_px)),
        cv2.LINE_AA,
        4,
    )
    return layer.astype(np.float32) / 255


def _blend(image: np.ndarray, cover: np.ndarray, colour, opacity: float) -> np.ndarray:
    a = (cover * opacity)[..., None]
    image *= 1 - a
    image += a * np.asarray(colour, np.float32)
    return a[..., 0]


def tube(image: np.ndarray, place: Placement, ident: Identity, rng: np.random.Generator) -> np.ndarray:
    """A nasogastric (from a nostril) or oral tube running off the face, taped to the cheek; returns the
    coverage of tube and tape."""
    size = image.shape[0]
    side = rng.choice([-1.0, 1.0])
    oral = rng.random() < 0.3
    start = (side * 0.1, ident.mouth_y) if oral else (side * ident.nose_w * 0.36, ident.nose_y + 0.06)
    far = (side * 3.0, ident.mouth_y + rng.uniform(-0.6, 1.2))
    path = place.to_image(bezier(start, (side * 0.5, ident.mouth_y + rng.uniform(-0.15, 0.1)), far, 24))
    width = (0.06 if oral else 0.035) * place.scale
    tint = (0.9, 0.93, 0.95) if oral else (0.95, 0.9, 0.7)
    _blend(image, _stroke(size, path, width + 1.5), (0.35, 0.35, 0.35), 0.35)
    cover = _blend(image, _stroke(size, path, width), tint, 0.85)
    _blend(image, _stroke(size, path, max(1.0, width * 0.3)), (1.0, 1.0, 1.0), 0.45)
    centre = np.array([side * rng.uniform(0.45, 0.65), ident.mouth_y - rng.uniform(0.0, 0.2)])
    w, h = rng.uniform(0.18, 0.3), rng.uniform(0.1, 0.18)
    corners = np.array([(-w, -h), (w, -h), (w, h), (-w, h)]) + centre
    layer = np.zeros((size, size), np.uint8)
    cv2.fillPoly(layer, [np.round(place.to_image(corners) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    tape = soften(layer.astype(np.float32) / 255, 0.6)
    return np.maximum(cover, _blend(image, tape, _TAPE[rng.integers(len(_TAPE))], rng.uniform(0.55, 0.9)))


def finger(image: np.ndarray, place: Placement, light: Light, rng: np.random.Generator) -> np.ndarray:
    """A caregiver's gloved finger reaching onto the face: a partial occlusion; returns its coverage."""
    canvas = Canvas(ppu=max(place.scale, 4.0), extent=1.6)
    width = rng.uniform(0.09, 0.14)
    diffuse, spec, alpha = _ellipsoids(canvas, [((0.8, 0.0), (1.6, width), 0.12)], light)
    glove = _GLOVES[rng.integers(len(_GLOVES))]
    rgb = glove * diffuse[..., None] + spec[..., None]
    tip = (rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.8))
    angle = rng.uniform(-np.pi, np.pi)
    return _paste(image, rgb.astype(np.float32), alpha, place.canvas_matrix(canvas, tip, angle))


def camera(
    image: np.ndarray,
    rng: np.random.Generator,
    blur_max: float,
    noise_max: float,
    grain_rng: np.random.Generator | None = None,
    gains: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Uneven light, colour cast, exposure, focus or motion blur and sensor noise; returns uint8 BGR.

    The settings come from ``rng``, the grain from ``grain_rng`` (default ``rng``): a video keeps one
    camera and draws fresh grain each frame.
    """
    grain_rng = rng if grain_rng is None else grain_rng
    size = image.shape[0]
    axis = np.arange(size, dtype=np.float32) / size - 0.5
    a = rng.uniform(0, 2 * np.pi)
    slope, fall = rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.5)
    gradient = 1 + slope * (np.cos(a) * axis[None, :] + np.sin(a) * axis[:, None])
    vignette = 1 - fall * (axis[None, :] ** 2 + axis[:, None] ** 2)
    cast = (rng.uniform(0.9, 1.1, 3) * rng.uniform(0.8, 1.15)).astype(np.float32)
    if gains is not None:  # the site's exposure and white balance, on top of each picture's own cast
        cast = cast * np.asarray(gains, np.float32)
    image = image * (gradient * vignette)[..., None] * cast
    if rng.random() < 0.6:
        image = soften(image, rng.uniform(0.2, 1.0) * blur_max * size / 256)
    if rng.random() < 0.15:
        length = int(rng.integers(3, 8))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1 / length
        rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
    # Sensor noise: per-pixel luminance grain plus coarser colour noise (cheaper than per-channel grain).
    sigma = rng.uniform(0.1, 1.0) * noise_max
    grain = grain_rng.standard_normal((size, size, 1), dtype=np.float32)
    half = max(size // 2, 1)
    chroma = _upsample(grain_rng.standard_normal((half, half, 3), dtype=np.float32), size)
    image = image + sigma * (grain + 0.6 * chroma)
    return (np.clip(image, 0, 1)[..., ::-1] * 255 + 0.5).astype(np.uint8)
