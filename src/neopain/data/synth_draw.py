"""Drawing primitives for the synthetic faces: a canvas in face units, soft blobs, anti-aliased
coverage layers, curves and height-field shading.

Coordinates are "face units" (the face's half-width is about 1), x to the right, y downwards.
Colours are RGB floats in [0, 1]; the caller converts to BGR uint8 at the very end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# OpenCV draws with sub-pixel precision when points are fixed-point integers with this many bits.
SHIFT = 4
_ONE = 1 << SHIFT

Point = tuple[float, float]


@dataclass(frozen=True)
class Canvas:
    """A square raster covering [-extent, extent]^2 face units at ``ppu`` pixels per unit."""

    ppu: float
    extent: float

    @property
    def size(self) -> int:
        return int(np.ceil(2 * self.extent * self.ppu))

    def px(self, points: np.ndarray | Sequence[Point]) -> np.ndarray:
        """Face units to pixel coordinates of this canvas (OpenCV's convention: pixel centres on integers)."""
        return (np.asarray(points, np.float64) + self.extent) * self.ppu

    def fixed(self, points: np.ndarray | Sequence[Point]) -> np.ndarray:
        return np.round(self.px(points) * _ONE).astype(np.int32)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Face-unit coordinates of every pixel centre, as two (size, size) arrays."""
        axis = np.arange(self.size, dtype=np.float32) / self.ppu - self.extent
        return np.meshgrid(axis, axis)

    def window(self, cx: float, cy: float, rx: float, ry: float):
        """Slices of the pixels within (rx, ry) of a centre, and their face-unit coordinates."""
        x0, y0 = self.px([(cx - rx, cy - ry)])[0].astype(int)
        x1, y1 = self.px([(cx + rx, cy + ry)])[0].astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.size), min(y1, self.size)
        if x1 <= x0 or y1 <= y0:
            return None
        xs = np.arange(x0, x1, dtype=np.float32) / self.ppu - self.extent
        ys = np.arange(y0, y1, dtype=np.float32) / self.ppu - self.extent
        gx, gy = np.meshgrid(xs, ys)
        return (slice(y0, y1), slice(x0, x1)), gx, gy


def gaussian(canvas: Canvas, center: Point, sigma: Point, angle: float = 0.0):
    """A unit-peak Gaussian evaluated only near its centre: (slices, values) or None."""
    sx, sy = sigma
    reach = 3.0 * max(sx, sy)
    found = canvas.window(center[0], center[1], reach, reach)
    if found is None:
        return None
    slices, gx, gy = found
    dx, dy = gx - center[0], gy - center[1]
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    return slices, np.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2)).astype(np.float32)


def add_blob(
    field: np.ndarray, canvas: Canvas, center: Point, sigma: Point, amp: float, angle: float = 0.0
) -> None:
    """Add a Gaussian bump (or dent, amp < 0) to a 2-D field in place."""
    found = gaussian(canvas, center, sigma, angle)
    if found is not None:
        slices, g = found
        field[slices] += amp * g


def tint_blob(image: np.ndarray, canvas: Canvas, center: Point, sigma: Point, color, strength: float) -> None:
    """Blend a colour into an RGB image with a Gaussian weight, in place."""
    found = gaussian(canvas, center, sigma)
    if found is not None:
        slices, g = found
        w = (strength * g)[..., None]
        image[slices] = image[slices] * (1 - w) + np.asarray(color, np.float32) * w


def _layer(canvas: Canvas) -> np.ndarray:
    return np.zeros((canvas.size, canvas.size), np.uint8)


def poly_cover(canvas: Canvas, polys: Sequence[np.ndarray], antialias: bool = True) -> np.ndarray:
    """Coverage in [0, 1] of filled polygons given in face units."""
    layer = _layer(canvas)
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    cv2.fillPoly(layer, [canvas.fixed(p) for p in polys], 255, line, SHIFT)
    return layer.astype(np.float32) / 255.0


def line_cover(canvas: Canvas, lines: Sequence[np.ndarray], width: float) -> np.ndarray:
    """Coverage of open polylines of a given width (face units); at least one pixel wide."""
    layer = _layer(canvas)
    thickness = max(1, round(width * canvas.ppu))
    cv2.polylines(layer, [canvas.fixed(p) for p in lines], False, 255, thickness, cv2.LINE_AA, SHIFT)
    return layer.astype(np.float32) / 255.0


def ellipse_points(
    center: Point, axes: Point, angle: float = 0.0, n: int = 48, power: float = 2.0
) -> np.ndarray:
    """Points on a (super)ellipse; power > 2 squares it off (a stretched, open crying mouth)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = axes[0] * np.sign(c) * np.abs(c) ** (2 / power)
    y = axes[1] * np.sign(s) * np.abs(s) ** (2 / power)
    ca, sa = np.cos(angle), np.sin(angle)
    return np.stack([center[0] + ca * x - sa * y, center[1] + sa * x + ca * y], axis=1)


@lru_cache(maxsize=64)
def _bernstein(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2, 2 * (1 - t) * t, t**2


def bezier(p0: Point, p1: Point, p2: Point, n: int = 16) -> np.ndarray:
    """Points along a quadratic Bezier curve."""
    b0, b1, b2 = _bernstein(n)
    return b0 * np.asarray(p0, np.float64) + b1 * np.asarray(p1, np.float64) + b2 * np.asarray(p2, np.float64)


def composite(image: np.ndarray, alpha: np.ndarray, color) -> None:
    """Paint a colour (or an image of colours) over ``image`` with coverage ``alpha``, in place."""
    # Features cover a small part of the canvas: blend only inside their bounding box (the hot loop).
    x, y, w, h = cv2.boundingRect(
        (alpha > 0).view(np.uint8) if alpha.dtype == bool else (alpha > 0).astype(np.uint8)
    )
    if w == 0 or h == 0:
        return
    region = (slice(y, y + h), slice(x, x + w))
    a = alpha[region][..., None]
    color = np.asarray(color, np.float32)
    patch = image[region]
    patch *= 1 - a
    patch += a * (color[region] if color.ndim == 3 else color)


def ellipsoid_height(gx: np.ndarray, gy: np.ndarray, center: Point, axes: Point, depth: float) -> np.ndarray:
    """Height of half an ellipsoid (zero outside its outline)."""
    r2 = ((gx - center[0]) / axes[0]) ** 2 + ((gy - center[1]) / axes[1]) ** 2
    return depth * np.sqrt(np.clip(1.0 - r2, 0.0, None))


def ellipse_alpha(canvas: Canvas, gx: np.ndarray, gy: np.ndarray, center: Point, axes: Point) -> np.ndarray:
    """Anti-aliased inside-ness of an ellipse, from its approximate signed distance."""
    r = np.sqrt(((gx - center[0]) / axes[0]) ** 2 + ((gy - center[1]) / axes[1]) ** 2)
    return np.clip((1.0 - r) * min(axes) * canvas.ppu + 0.5, 0.0, 1.0)


@dataclass(frozen=True)
class Light:
    """A directional light in face coordinates (z towards the camera) with ambient and gloss."""

    direction: tuple[float, float, float]
    ambient: float
    gloss: float

    def unit(self) -> np.ndarray:
        d = np.asarray(self.direction, np.float32)
        return d / np.linalg.norm(d)


def rotate_light(light: Light, angle: float) -> Light:
    """The same light seen from a frame rotated by ``angle`` (radians) in the image plane."""
    x, y, z = light.direction
    c, s = np.cos(angle), np.sin(angle)
    return Light((c * x + s * y, -s * x + c * y, z), light.ambient, light.gloss)


def shade(
    height: np.ndarray, canvas: Canvas, light: Light, wrap: float = 0.35
) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse factor (wrapped Lambert: soft, like a baby's skin) and specular term of a height field."""
    gy, gx = np.gradient(height)
    gx *= canvas.ppu
    gy *= canvas.ppu
    norm = np.sqrt(gx * gx + gy * gy + 1.0)
    lx, ly, lz = light.unit()
    ndotl = (-gx * lx - gy * ly + lz) / norm
    diffuse = np.clip((ndotl + wrap) / (1 + wrap), 0.0, 1.0)
    diffuse = light.ambient + (1 - light.ambient) * diffuse
    half = np.asarray([lx, ly, lz + 1.0], np.float32)
    half /= np.linalg.norm(half)
    ndoth = np.clip((-gx * half[0] - gy * half[1] + half[2]) / norm, 0.0, 1.0)
    specular = light.gloss * ndoth**24
    return diffuse.astype(np.float32), specular.astype(np.float32)


def soften(field: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with a sigma in pixels (no-op below a tenth of a pixel)."""
    if sigma_px < 0.1:
        return field
    return cv2.GaussianBlur(field, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
