"""Render one synthetic newborn head (face, ears, cap or hair) on a face-unit canvas, with region masks."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from neopain.data.synth_draw import (
    Canvas,
    Light,
    add_blob,
    bezier,
    ellipse_alpha,
    ellipsoid_height,
    line_cover,
    shade,
    soften,
    tint_blob,
)
from neopain.data.synth_features import (
    FaceLayers,
    draw_brows,
    draw_chin,
    draw_eyes,
    draw_folds,
    draw_mouth,
    draw_nose,
)
from neopain.data.synth_identity import Expression, Identity, face_ellipse
from neopain.scales.nfcs import REGIONS, region_bit

# The canvas reaches this far from the face centre (face units): enough for the cranium, cap and ears.
EXTENT = 1.9


@dataclass(frozen=True)
class RenderedHead:
    rgb: np.ndarray  # (N, N, 3) float32, not premultiplied
    alpha: np.ndarray  # (N, N) float32 coverage of the head
    mask: np.ndarray  # (N, N) uint8, bit i = region i of neopain.scales.nfcs.REGIONS


def _head_shapes(ident: Identity) -> list[tuple[tuple[float, float], tuple[float, float], float]]:
    """(centre, half-axes, depth) of the ellipsoids whose union is the head."""
    cy, ca, cb = ident.cranium
    low_b = 0.83 * ident.face_h
    cheek_w = 0.46 + 0.08 * ident.cheek
    return [
        ((0.0, cy), (ca, cb), 0.7),
        ((0.0, 0.03 + ident.face_h - low_b), (0.97, low_b), 0.6),
        ((-0.5, ident.mouth_y - 0.2), (cheek_w, 0.42), 0.42),
        ((0.5, ident.mouth_y - 0.2), (cheek_w, 0.42), 0.42),
    ]


def _ears(f: FaceLayers, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ident = f.identity
    height = np.zeros_like(gx)
    alpha = np.zeros_like(gx)
    for s in (-1.0, 1.0):
        centre, axes = (s * 0.97, ident.eye_y + 0.12), (0.13 * ident.ear, 0.21 * ident.ear)
        height = np.maximum(height, ellipsoid_height(gx, gy, centre, axes, 0.12))
        alpha = np.maximum(alpha, ellipse_alpha(f.canvas, gx, gy, centre, axes))
        rim = bezier((s * 1.0, centre[1] - 0.13), (s * 1.07, centre[1]), (s * 0.99, centre[1] + 0.13))
        f.crease_line(rim, 0.5, 0.02)
    return height, alpha


def _surface(f: FaceLayers, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Head silhouette (returned) and the base height field (into f.height)."""
    ear_h, ear_a = _ears(f, gx, gy)
    alpha = ear_a
    height = ear_h
    for centre, axes, depth in _head_shapes(f.identity):
        alpha = np.maximum(alpha, ellipse_alpha(f.canvas, gx, gy, centre, axes))
        height = np.maximum(height, ellipsoid_height(gx, gy, centre, axes, depth))
    # The union of ellipsoids creases where they meet; a wide blur makes one smooth skull.
    f.height += soften(height, 0.13 * f.canvas.ppu)
    ident = f.identity
    for s in (-1.0, 1.0):
        add_blob(f.height, f.canvas, (s * 0.48, ident.mouth_y - 0.1), (0.2, 0.17), 0.08 + 0.06 * ident.cheek)
        tint_blob(
            f.albedo, f.canvas, (s * 0.5, ident.mouth_y - 0.12), (0.17, 0.13), (0.93, 0.42, 0.42), ident.blush
        )
    return alpha


def _cap_or_hair(
    f: FaceLayers, gx: np.ndarray, gy: np.ndarray, light: Light, rgb: np.ndarray, alpha: np.ndarray
) -> None:
    ident = f.identity
    cy, ca, cb = ident.cranium
    if not ident.cap:
        _hair(f, gx, gy, rgb)
        return
    # The cap only reaches the upper rows: work on those alone (views, so writes land in rgb and alpha).
    rows = min(f.canvas.size, int((ident.cap_edge + 0.16 * EXTENT**2 + 0.1 + EXTENT) * f.canvas.ppu) + 1)
    gx, gy, rgb, alpha = gx[:rows], gy[:rows], rgb[:rows], alpha[:rows]
    edge = ident.cap_edge + 0.16 * gx**2
    dome = ellipse_alpha(f.canvas, gx, gy, (0.0, cy - 0.03), (ca + 0.07, cb + 0.06))
    cover = np.clip((edge - gy) * f.canvas.ppu + 0.5, 0, 1) * dome
    brim = np.exp(-0.5 * ((gy - (edge - 0.07)) / 0.045) ** 2)
    cap_height = ellipsoid_height(gx, gy, (0.0, cy - 0.03), (ca + 0.07, cb + 0.06), 0.75) + 0.05 * brim
    knit = 1.0 - 0.07 * (0.5 + 0.5 * np.sin(gx * 55.0)) * (1 - brim)
    colour = np.broadcast_to(np.asarray(ident.cap_colour, np.float32), rgb.shape).copy()
    if ident.stripes:
        band = np.clip(np.sin(gy * ident.stripes * np.pi * 2) * 3, 0, 1)[..., None]
        colour = colour * (1 - band) + np.asarray(ident.stripe_colour, np.float32) * band
    diffuse, spec = shade(cap_height, f.canvas, light, wrap=0.5)
    cap_rgb = colour * (diffuse * knit)[..., None] + 0.3 * spec[..., None]
    a = cover[..., None]
    rgb *= 1 - a
    rgb += a * cap_rgb
    np.maximum(alpha, cover, out=alpha)


def _hair(f: FaceLayers, gx: np.ndarray, gy: np.ndarray, rgb: np.ndarray) -> None:
    """Fine newborn hair: strands over the crown, denser on darker-haired babies."""
    ident = f.identity
    rng = np.random.default_rng(ident.detail_seed)
    cy, ca, cb = ident.cranium
    n = int(40 + 160 * ident.hair)
    ang, r = rng.uniform(-2.7, -0.45, n), rng.uniform(0.35, 0.97, n)
    start = np.stack([ca * r * np.cos(ang), cy + cb * r * np.sin(ang)], axis=1)
    tangent = np.stack([-np.sin(ang), np.cos(ang)], axis=1) * rng.choice([-1.0, 1.0], n)[:, None]
    end = start + tangent * rng.uniform(0.05, 0.12, n)[:, None]
    mid = (start + end) / 2 + rng.normal(0, 0.02, (n, 2))
    t = np.linspace(0, 1, 6)[None, :, None]
    strands = (1 - t) ** 2 * start[:, None] + 2 * (1 - t) * t * mid[:, None] + t**2 * end[:, None]
    scalp = soften(line_cover(f.canvas, list(strands), 0.006), 0.5)
    strength = 0.25 + 0.35 * ident.hair
    crown = np.clip((cy + 0.05 - gy) / 0.3, 0, 1) * ellipse_alpha(f.canvas, gx, gy, (0.0, cy), (ca, cb))
    a = (np.maximum(scalp * strength, crown * 0.3 * ident.hair))[..., None]
    rgb *= 1 - a
    rgb += a * np.asarray(ident.hair_colour, np.float32)


def _region_mask(f: FaceLayers) -> np.ndarray:
    """uint8 mask: bit i set where region i shows, clipped to the face ellipse (so inside the face box)."""
    size = f.canvas.size
    centre, axes = face_ellipse(f.identity)
    inside = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inside, [np.round(f.canvas.px(_ellipse(centre, axes))).astype(np.int32)], 1)
    mask = np.zeros((size, size), np.uint8)
    for region in REGIONS:
        layer = np.zeros((size, size), np.uint8)
        cv2.fillPoly(layer, [np.round(f.canvas.px(p)).astype(np.int32) for p in f.regions[region]], 1)
        mask |= (layer & inside) * np.uint8(region_bit(region))
    return mask


def _ellipse(centre, axes) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return np.stack([centre[0] + axes[0] * np.cos(t), centre[1] + axes[1] * np.sin(t)], axis=1)


def render_head(
    ident: Identity, expr: Expression, canvas: Canvas, light: Light, rng: np.random.Generator
) -> RenderedHead:
    """Draw the head facing the camera, upright, centred on the canvas (the scene rotates it)."""
    size = canvas.size
    gx, gy = canvas.grid()
    f = FaceLayers(
        canvas=canvas,
        identity=ident,
        expression=expr,
        rng=rng,
        height=np.zeros((size, size), np.float32),
        albedo=np.broadcast_to(np.asarray(ident.skin, np.float32), (size, size, 3)).copy(),
        crease=np.zeros((size, size), np.float32),
    )
    alpha = _surface(f, gx, gy)
    draw_brows(f)
    draw_eyes(f)
    draw_nose(f)
    draw_folds(f)
    lip_bottom = draw_mouth(f)
    draw_chin(f, lip_bottom)
    fold = soften(f.crease, 0.006 * canvas.ppu + 0.35)
    height = f.height - 0.025 * soften(f.crease, 0.015 * canvas.ppu + 0.5)
    diffuse, spec = shade(height, canvas, light)
    occlusion = 1.0 - 0.45 * np.clip(fold, 0, 1.2)
    rgb = f.albedo * (diffuse * occlusion)[..., None] + spec[..., None]
    _cap_or_hair(f, gx, gy, light, rgb, alpha)
    return RenderedHead(rgb=rgb.astype(np.float32), alpha=alpha.astype(np.float32), mask=_region_mask(f))
