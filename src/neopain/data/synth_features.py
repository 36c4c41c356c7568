"""The facial features and the NFCS actions, drawn as local shape (height), creases and colour.

Every action is a local change of the face's surface or features, never a global colour change, so a
model has to look at the face to find it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neopain.data.synth_draw import (
    Canvas,
    add_blob,
    bezier,
    composite,
    ellipse_points,
    line_cover,
    poly_cover,
    soften,
    tint_blob,
)
from neopain.data.synth_identity import Expression, Identity


@dataclass
class FaceLayers:
    """Working layers of one face: surface height, albedo, creases (depth), plus region geometry."""

    canvas: Canvas
    identity: Identity
    expression: Expression
    rng: np.random.Generator
    height: np.ndarray
    albedo: np.ndarray
    crease: np.ndarray
    regions: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def crease_line(self, points: np.ndarray, depth: float, width: float) -> None:
        """A skin fold: darkens (ambient occlusion) and dents the surface along a curve."""
        if depth > 0:
            np.maximum(
                self.crease, line_cover(self.canvas, [points], width) * min(depth, 1.5), out=self.crease
            )

    def ink(self, points: np.ndarray, width: float, colour, strength: float, blur: float = 0.0) -> None:
        cover = line_cover(self.canvas, [points], width)
        composite(self.albedo, soften(cover, blur * self.canvas.ppu) * strength, colour)

    def fill(self, polys: list[np.ndarray], colour, strength: float = 1.0, blur: float = 0.0) -> np.ndarray:
        cover = soften(poly_cover(self.canvas, polys), blur * self.canvas.ppu)
        composite(self.albedo, cover * strength, colour)
        return cover


def _darker(colour, factor: float) -> tuple[float, float, float]:
    return tuple(float(c * factor) for c in colour)  # type: ignore[return-value]


def draw_eyes(f: FaceLayers) -> None:
    """Closed (asleep), open, or squeezed shut with bulges and wrinkles fanning from the corners."""
    ident, expr = f.identity, f.expression
    squeeze = expr["eye_squeeze"]
    lash = _darker(ident.hair_colour, 0.6)
    for s in (-1.0, 1.0):
        cx, cy = s * ident.eye_dx, ident.eye_y + 0.02 * squeeze
        w = ident.eye_w * (1 - 0.22 * squeeze)
        inner, outer = (cx - s * w, cy), (cx + s * w, cy - 0.01)
        add_blob(f.height, f.canvas, (cx, cy - 0.05), (w * 0.8, 0.055), 0.035 + 0.07 * squeeze)
        f.regions.setdefault("eyes", []).append(ellipse_points((cx, cy), (ident.eye_w + 0.09, 0.13)))
        if squeeze > 0:
            _squeezed_eye(f, s, cx, cy, w, inner, outer, squeeze, lash)
        elif expr.eyes_open > 0:
            _open_eye(f, s, cx, cy, inner, outer, lash)
        else:
            line = bezier(inner, (cx, cy + 0.045), outer)
            f.crease_line(line, 0.35, 0.012)
            f.ink(line, 0.014, lash, 0.75)
            for t in np.linspace(0.3, 0.9, 5):
                x0, y0 = bezier(inner, (cx, cy + 0.045), outer, 11)[int(t * 10)]
                f.ink(np.array([(x0, y0), (x0 + s * 0.012, y0 + 0.022)]), 0.006, lash, 0.5)
            f.crease_line(
                bezier((cx - s * w * 0.7, cy - 0.05), (cx, cy - 0.085), (cx + s * w * 0.8, cy - 0.055)),
                0.12,
                0.01,
            )


def _squeezed_eye(
    f: FaceLayers, s: float, cx: float, cy: float, w: float, inner, outer, t: float, lash
) -> None:
    line = bezier(inner, (cx, cy + 0.02 - 0.03 * t), outer)
    f.crease_line(line, 0.7 + 0.5 * t, 0.016 + 0.02 * t)
    f.ink(line, 0.012 + 0.014 * t, lash, 0.8)
    add_blob(f.height, f.canvas, (cx, cy + 0.075), (w * 0.85, 0.05), 0.05 * t)  # cheek pushed up
    # Crow's feet: folds fanning out from the outer corner.
    for j, angle in enumerate(np.linspace(-0.6, 0.5, 2 + round(3 * t))):
        length = (0.07 + 0.08 * t) * f.rng.uniform(0.8, 1.2)
        start = np.array([outer[0] + s * 0.015, outer[1]])
        end = start + length * np.array([s * np.cos(angle), np.sin(angle)])
        bend = start + 0.5 * (end - start) + np.array([0.0, 0.012 * (j % 2 - 0.5)])
        f.crease_line(bezier(tuple(start), tuple(bend), tuple(end), 8), 0.45 + 0.5 * t, 0.01 + 0.006 * t)
    # Folds above and below the lid: the skin bunched by the orbicularis muscle.
    for j in range(1 + round(2 * t)):
        dy = 0.045 + 0.03 * j
        f.crease_line(
            bezier((cx - s * w * 0.8, cy + dy + 0.02), (cx, cy + dy + 0.06), (cx + s * w, cy + dy)),
            0.35 + 0.45 * t,
            0.011,
        )
    f.crease_line(
        bezier((cx - s * w * 0.9, cy - 0.045), (cx, cy - 0.09 - 0.02 * t), (cx + s * w, cy - 0.05)),
        0.3 + 0.5 * t,
        0.012,
    )


def _open_eye(f: FaceLayers, s: float, cx: float, cy: float, inner, outer, lash) -> None:
    ident, expr = f.identity, f.expression
    eh = ident.eye_h * (0.5 + 0.5 * expr.eyes_open)
    upper = bezier(inner, (cx, cy - 2.0 * eh), outer)
    lower = bezier(outer, (cx, cy + 1.2 * eh), inner)
    opening = poly_cover(f.canvas, [np.concatenate([upper, lower])])
    composite(f.albedo, opening, (0.86, 0.87, 0.90))
    ix, iy = cx + expr.gaze[0] * ident.eye_w * 0.35, cy - 0.2 * eh + expr.gaze[1] * eh * 0.3
    iris = poly_cover(f.canvas, [ellipse_points((ix, iy), (eh * 1.05, eh * 1.05))]) * opening
    composite(f.albedo, iris, ident.iris)
    pupil = poly_cover(f.canvas, [ellipse_points((ix, iy), (eh * 0.45, eh * 0.45))]) * opening
    composite(f.albedo, pupil, (0.05, 0.05, 0.06))
    glint = poly_cover(f.canvas, [ellipse_points((ix + 0.3 * eh, iy - 0.35 * eh), (eh * 0.18, eh * 0.18))])
    composite(f.albedo, glint * opening, (0.97, 0.97, 0.97))
    f.ink(upper, 0.018, lash, 0.9)
    f.ink(lower, 0.008, lash, 0.35)
    f.crease_line(
        bezier((inner[0], inner[1] - 0.03), (cx, cy - 2.2 * eh - 0.035), (outer[0], outer[1] - 0.035)),
        0.25,
        0.01,
    )


def draw_brows(f: FaceLayers) -> None:
    """Sparse newborn brows; brow bulge adds a glabella bulge, vertical furrows and a nasal-root fold."""
    ident, expr = f.identity, f.expression
    bulge, squeeze = expr["brow_bulge"], expr["eye_squeeze"]
    by = ident.brow_y + 0.03 * bulge + 0.03 * squeeze
    for s in (-1.0, 1.0):
        arc = bezier(
            (s * (0.13 - 0.03 * bulge), by + 0.045 * bulge),
            (s * 0.3, by - 0.045 + 0.02 * bulge),
            (s * 0.53, by + 0.035),
        )
        f.ink(arc, 0.035, ident.hair_colour, ident.brow_tone, blur=0.012)
        add_blob(f.height, f.canvas, (s * 0.3, by + 0.02), (0.16, 0.06), 0.015)
    f.regions["brow"] = [
        np.array(
            [(-0.56, by - 0.14), (0.56, by - 0.14), (0.56, ident.eye_y - 0.07), (-0.56, ident.eye_y - 0.07)]
        )
    ]
    if bulge <= 0:
        return
    add_blob(f.height, f.canvas, (0.0, by + 0.015), (0.09, 0.075), 0.07 * bulge)
    for s in (-1.0, 1.0):
        add_blob(f.height, f.canvas, (s * 0.19, by - 0.01), (0.11, 0.06), 0.055 * bulge)
        furrow = bezier((s * 0.06, by - 0.085), (s * 0.075, by), (s * 0.045, by + 0.085))
        f.crease_line(furrow, 0.6 + 0.6 * bulge, 0.012 + 0.01 * bulge)
        f.crease_line(
            bezier((s * 0.1, by - 0.12), (s * 0.16, by - 0.14), (s * 0.24, by - 0.13)), 0.5 * bulge, 0.01
        )
    f.crease_line(
        bezier((-0.1, ident.eye_y - 0.01), (0.0, ident.eye_y - 0.045), (0.1, ident.eye_y - 0.01)),
        0.4 + 0.5 * bulge,
        0.012,
    )


def draw_nose(f: FaceLayers) -> None:
    ident = f.identity
    ny, nw = ident.nose_y, ident.nose_w
    add_blob(f.height, f.canvas, (0.0, ny - 0.14), (0.06, 0.14), 0.035)
    add_blob(f.height, f.canvas, (0.0, ny - 0.005), (nw * 0.55, 0.065), 0.085)
    tint_blob(f.albedo, f.canvas, (0.0, ny), (nw * 0.5, 0.05), (0.9, 0.5, 0.5), 0.12)
    for s in (-1.0, 1.0):
        add_blob(f.height, f.canvas, (s * nw * 0.72, ny + 0.02), (0.055, 0.045), 0.05)
        nostril = ellipse_points((s * nw * 0.36, ny + 0.055), (0.034, 0.018), angle=s * 0.35)
        f.fill([nostril], _darker(ident.skin, 0.3), 0.85, blur=0.006)
        f.crease_line(
            bezier((s * nw * 0.95, ny - 0.03), (s * nw * 1.15, ny + 0.03), (s * nw * 0.75, ny + 0.07)),
            0.3,
            0.01,
        )


def mouth_geometry(ident: Identity, expr: Expression) -> tuple[float, float, float, float]:
    """Half-width, opening half-height, centre y and squareness of the mouth for this expression."""
    lips, vert, horiz = expr["open_lips"], expr["mouth_stretch_vertical"], expr["mouth_stretch_horizontal"]
    taut, protrude = expr["taut_tongue"], expr["tongue_protrusion"]
    opening = 0.0
    if lips or vert or taut or protrude:
        opening = 0.035 + 0.055 * lips + (0.1 + 0.16 * vert if vert else 0.0)
        opening = max(opening, 0.13 if taut else 0.0, 0.08 if protrude else 0.0)
    purse = expr["lip_purse"]
    half_w = ident.mouth_w * (1 + 0.5 * horiz) * (1 + 0.25 * (opening > 0.1)) * (1 - 0.4 * purse)
    half_h = opening / 2
    # Pursed lips round the opening into an O; stretches square it.
    return half_w, half_h, ident.mouth_y + half_h * 0.6, max(2.2 + 2.6 * horiz + 0.8 * vert - 0.6 * purse, 1.6)


def draw_folds(f: FaceLayers) -> None:
    """Nasolabial folds: a resting crease on chubby cheeks, deepened and lengthened by the action."""
    ident = f.identity
    t = f.expression["nasolabial_furrow"]
    half_w, _, cy, _ = mouth_geometry(ident, f.expression)
    f.regions["nasolabial"] = []
    for s in (-1.0, 1.0):
        p0 = (s * ident.nose_w * 0.95, ident.nose_y + 0.015)
        p1 = (s * (ident.nose_w + 0.15 + 0.04 * t), (ident.nose_y + ident.mouth_y) / 2 - 0.01)
        p2 = (s * (half_w + 0.07 + 0.05 * t), cy + 0.05 + 0.06 * t)
        curve = bezier(p0, p1, p2)
        f.crease_line(curve, ident.fold_base + 1.0 * t, 0.013 + 0.018 * t)
        # The cheek bulges just outside the deepened fold.
        add_blob(
            f.height,
            f.canvas,
            (s * (ident.nose_w + 0.2), (ident.nose_y + ident.mouth_y) / 2 - 0.04),
            (0.1, 0.1),
            0.06 * t,
        )
        region_curve = bezier(p0, p1, (s * (ident.mouth_w * 1.5 + 0.12), ident.mouth_y + 0.16))
        f.regions["nasolabial"].append(_band(region_curve, 0.1))


def _band(curve: np.ndarray, half_width: float) -> np.ndarray:
    """A polygon of the given half-width around a curve."""
    d = np.gradient(curve, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9)
    return np.concatenate([curve + half_width * n, (curve - half_width * n)[::-1]])


def draw_mouth(f: FaceLayers) -> float:
    """Closed lips, or an open (square when stretched) mouth with gums and tongue; returns the lower lip's y."""
    ident, expr = f.identity, f.expression
    half_w, half_h, cy, power = mouth_geometry(ident, expr)
    purse = expr["lip_purse"]
    lip, lt = ident.lip, ident.lip_t * (1 + 0.9 * purse)  # pursed lips push forward and thicken
    if half_h == 0:
        bottom = _closed_mouth(f, half_w, lip, lt)
    else:
        bottom = _open_mouth(f, half_w, half_h, cy, power, lip, lt)
    top = ident.mouth_y - lt - 0.05
    f.regions["mouth"] = [
        ellipse_points((0.0, (top + bottom) / 2), (half_w + lt + 0.06, (bottom - top) / 2 + 0.04))
    ]
    corners = expr["mouth_stretch_horizontal"]
    for s in (-1.0, 1.0):
        f.crease_line(
            np.array(
                [
                    (s * (half_w + 0.01), cy),
                    (s * (half_w + 0.04 + 0.03 * corners), cy + 0.03 + 0.02 * corners),
                ]
            ),
            0.2 + 0.6 * corners,
            0.01,
        )
    f.crease_line(np.array([(0.0, ident.nose_y + 0.08), (0.0, ident.mouth_y - lt - 0.01)]), 0.12, 0.03)
    if purse:
        _purse_wrinkles(f, half_w + lt, cy, purse)
    return bottom


def _purse_wrinkles(f: FaceLayers, radius: float, cy: float, purse: float) -> None:
    """Pursed lips: a forward bulge and short radial folds around the lips (the drawstring look)."""
    add_blob(f.height, f.canvas, (0.0, cy), (radius * 0.55, radius * 0.45), 0.05 * purse)
    for angle in np.linspace(0.0, 2 * np.pi, 10, endpoint=False) + 0.3:
        direction = np.array([np.cos(angle), 0.8 * np.sin(angle)])
        inner, outer = radius * 0.9 * direction, radius * (1.15 + 0.1 * purse) * direction
        f.crease_line(np.array([inner, outer]) + (0.0, cy), 0.35 * purse, 0.008)


def _closed_mouth(f: FaceLayers, half_w: float, lip, lt: float) -> float:
    my = f.identity.mouth_y
    upper_top = np.concatenate(
        [
            bezier((-half_w, my), (-half_w * 0.5, my - lt * 1.5), (0.0, my - lt * 0.8), 8),
            bezier((0.0, my - lt * 0.8), (half_w * 0.5, my - lt * 1.5), (half_w, my), 8),
        ]
    )
    seam = bezier((half_w, my), (0.0, my + 0.018), (-half_w, my))
    lower = bezier((-half_w * 0.9, my + 0.005), (0.0, my + lt * 2.8), (half_w * 0.9, my + 0.005))
    f.fill([np.concatenate([upper_top, seam])], lip, 0.85, blur=0.008)
    f.fill([np.concatenate([lower, seam[1:-1]])], lip, 0.85, blur=0.008)
    f.ink(seam, 0.012, _darker(lip, 0.45), 0.8)
    add_blob(f.height, f.canvas, (0.0, my + lt), (half_w * 0.6, lt), 0.025)
    return my + lt * 1.5


def _open_mouth(
    f: FaceLayers, half_w: float, half_h: float, cy: float, power: float, lip, lt: float
) -> float:
    expr = f.expression
    taut, protrude = expr["taut_tongue"], expr["tongue_protrusion"]
    outer = ellipse_points((0.0, cy), (half_w + lt * 0.7, half_h + lt * 1.2), power=power, n=64)
    inner = ellipse_points((0.0, cy), (half_w, half_h), power=power, n=64)
    inner[:, 1] = np.where(inner[:, 1] < cy, cy + (inner[:, 1] - cy) * 0.85, inner[:, 1])
    f.fill([outer], lip, 0.9, blur=0.008)
    cavity = f.fill([inner], (0.22, 0.05, 0.06), 1.0, blur=0.004)
    add_blob(f.height, f.canvas, (0.0, cy), (half_w * 0.7, half_h * 0.8 + 0.01), -0.03)
    gum = poly_cover(
        f.canvas, [ellipse_points((0.0, cy - half_h * 0.85), (half_w * 0.8, half_h * 0.3 + 0.01))]
    )
    composite(f.albedo, gum * cavity, (0.8, 0.45, 0.47))
    tongue_colour = (0.86, 0.47, 0.5)
    if taut > 0:
        rise = half_h * (0.2 + 0.5 * taut)
        cup = np.array(
            [
                (-half_w * 0.75, cy + half_h),
                (-half_w * 0.6, cy - rise),
                (-half_w * 0.25, cy - rise * 0.3),
                (0.0, cy + half_h * 0.1),
                (half_w * 0.25, cy - rise * 0.3),
                (half_w * 0.6, cy - rise),
                (half_w * 0.75, cy + half_h),
            ]
        )
        composite(f.albedo, poly_cover(f.canvas, [cup]) * cavity, tongue_colour)
        for s in (-1.0, 1.0):
            f.ink(
                np.array(
                    [
                        (s * half_w * 0.7, cy + half_h * 0.8),
                        (s * half_w * 0.6, cy - rise),
                        (s * half_w * 0.3, cy - rise * 0.35),
                    ]
                ),
                0.014,
                (0.98, 0.7, 0.72),
                0.5 + 0.4 * taut,
            )
        f.ink(np.array([(0.0, cy + half_h * 0.2), (0.0, cy + half_h * 0.9)]), 0.012, (0.45, 0.15, 0.17), 0.7)
    elif half_h > 0.04:
        tongue = poly_cover(
            f.canvas, [ellipse_points((0.0, cy + half_h * 0.75), (half_w * 0.7, half_h * 0.45))]
        )
        composite(f.albedo, tongue * cavity, tongue_colour)
    bottom = cy + half_h + lt * 1.2
    if protrude > 0:
        top, tip = cy + half_h * 0.1, bottom + 0.03 + 0.07 * protrude
        shape = ellipse_points((0.0, (top + tip) / 2), (half_w * 0.62, (tip - top) / 2))
        f.fill([shape], tongue_colour, 1.0, blur=0.005)
        add_blob(f.height, f.canvas, (0.0, (top + tip) / 2 + 0.02), (half_w * 0.45, (tip - top) / 3), 0.03)
        f.ink(np.array([(0.0, cy + half_h * 0.5), (0.0, tip - 0.03)]), 0.01, (0.6, 0.25, 0.28), 0.5)
        bottom = tip
    return bottom


def draw_chin(f: FaceLayers, lip_bottom: float) -> None:
    """Chin boss and mentalis fold; chin quiver (a still of a trembling chin) dimples and ripples it."""
    ident = f.identity
    t = f.expression["chin_quiver"]
    cy = max(ident.mouth_y + 0.3, lip_bottom + 0.14)
    add_blob(f.height, f.canvas, (0.0, cy), (0.16, 0.085), 0.045 + 0.05 * t)
    f.crease_line(
        bezier((-0.13, lip_bottom + 0.045), (0.0, lip_bottom + 0.085), (0.13, lip_bottom + 0.045)),
        ident.chin_base + 0.8 * t,
        0.012 + 0.01 * t,
    )
    f.regions["chin"] = [ellipse_points((0.0, cy + 0.02), (0.27, 0.15))]
    if t <= 0:
        return
    for _ in range(6 + int(10 * t)):
        px, py = f.rng.uniform(-0.12, 0.12), cy + f.rng.uniform(-0.06, 0.06)
        add_blob(f.height, f.canvas, (px, py), (0.016, 0.016), -0.012 * t)
        f.crease_line(np.array([(px - 0.008, py), (px + 0.008, py + 0.002)]), 0.35 * t, 0.012)
    for k in range(1 + round(2 * t)):
        xs = np.linspace(-0.12, 0.12, 14)
        ys = cy - 0.03 + 0.035 * k + 0.01 * np.sin(xs * 70 + k)
        f.crease_line(np.stack([xs, ys], axis=1), 0.3 + 0.5 * t, 0.01)
