"""The NFCS facial regions placed on a face crop from 5 landmarks, and the share of attribution in each.

Geometry. A face frame is built from the landmarks (right eye, left eye, nose, right mouth corner, left
mouth corner; "right" is the subject's right): origin at the eye midpoint, axis ``u`` along the eye line
(unit: the eye distance ``d``), axis ``v`` perpendicular to it towards the mouth (unit: the eye-mouth
distance ``m``, the mouth midpoint's distance from the eye line). A point (a, b) of the frame is
``eye_mid + a * d * u + b * m * v``: the eyes sit at (-0.5, 0) and (0.5, 0), the mouth near b = 1.
Regions (polygons in this frame, then in crop pixels):

- brow: brow and forehead, a in [-0.85, 0.85], b in [-1.0, -0.2];
- eyes: one box per eye, eye centre +- 0.3 in a, b in [-0.2, 0.22];
- nasolabial: one band per side from beside the nose wing (at the nose's b) down to just outside the
  mouth corner (0.1 below it), 0.25 d wide;
- mouth: the mouth corners +- 0.12 d sideways, from 0.22 m above to 0.3 m below the corners;
- chin: 0.8 d wide under the mouth, from 0.3 m to 0.85 m below the corners.

Overlaps go to one region only, by ``PRIORITY`` (mouth, eyes, nasolabial, brow, chin), so the shares
of one image sum to at most 1. Polygons are clipped to the crop; a region with less than
``VISIBLE_MIN`` of its area inside is flagged (and one wholly outside scores 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from neopain.faces.base import Face
from neopain.faces.crop import crop_affine, transform_points
from neopain.scales.nfcs import ACTION_REGION, REGIONS

__all__ = [
    "CANONICAL_LANDMARKS",
    "PRIORITY",
    "RegionLayout",
    "canonical_in_crop",
    "canonical_landmarks",
    "clip_polygon",
    "landmarks_in_crop",
    "mask_shares",
    "place_regions",
    "polygon_area",
    "present_regions",
    "region_masks",
    "region_polygons",
    "region_shares",
    "scale_points",
    "skin_polygons",
]

# The scale of facial-action detail (creases, furrows, lip edges: about 3 px at 112 px), as a fraction of
# the crop side: explanations blur their baseline and read their maps at it, and so does the region prior.
FEATURE_SCALE = 0.03
PRIORITY = ("mouth", "eyes", "nasolabial", "brow", "chin")
VISIBLE_MIN = 0.99

# A canonical 5-point layout as fractions (x, y) of a face box, for faces without landmarks (the 'box'
# detector: annotation boxes). Typical of RetinaFace/YuNet boxes of frontal faces.
CANONICAL_LANDMARKS = np.array(
    [[0.32, 0.40], [0.68, 0.40], [0.50, 0.58], [0.36, 0.76], [0.64, 0.76]], dtype=np.float64
)


class LandmarkError(ValueError):
    """Landmarks from which no face frame can be built (coincident eyes, mouth on the eye line)."""


@dataclass(frozen=True)
class _Frame:
    origin: np.ndarray
    u: np.ndarray  # eye distance along the eye line
    v: np.ndarray  # eye-mouth distance, perpendicular to the eye line

    def to_pixels(self, ab: np.ndarray) -> np.ndarray:
        ab = np.asarray(ab, np.float64).reshape(-1, 2)
        return self.origin + ab[:, :1] * self.u + ab[:, 1:] * self.v

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        basis = np.stack([self.u, self.v], axis=1)
        return np.linalg.solve(basis, (np.asarray(points, np.float64) - self.origin).T).T


def _frame(landmarks: np.ndarray) -> _Frame:
    pts = np.asarray(landmarks, np.float64).reshape(5, 2)
    right_eye, left_eye, _, right_mouth, left_mouth = pts
    eye_mid, mouth_mid = (right_eye + left_eye) / 2, (right_mouth + left_mouth) / 2
    u = left_eye - right_eye
    d = float(np.hypot(*u))
    if d < 1e-6:
        raise LandmarkError("the two eye landmarks coincide")
    u_hat = u / d
    v_hat = np.array([-u_hat[1], u_hat[0]])  # u turned a quarter towards +y (image down) when level
    m = float((mouth_mid - eye_mid) @ v_hat)
    if m <= 1e-6:
        raise LandmarkError("the mouth landmarks are not below the eye line")
    return _Frame(eye_mid, u_hat * d, v_hat * m)


def _box(a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    return np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]])


def region_polygons(landmarks: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Polygons (pixel coordinates of the landmarks' image) of each region of ``neopain.scales.nfcs.REGIONS``."""
    frame = _frame(landmarks)
    ab = frame.to_frame(np.asarray(landmarks, np.float64).reshape(5, 2))
    nose_b = float(ab[2, 1])
    (ra, rb), (la, lb) = ab[3], ab[4]
    mouth_b, mouth_a = (rb + lb) / 2, (ra + la) / 2
    frame_polys: dict[str, list[np.ndarray]] = {
        "brow": [_box(-0.85, 0.85, -1.0, -0.2)],
        "eyes": [_box(-0.8, -0.2, -0.2, 0.22), _box(0.2, 0.8, -0.2, 0.22)],
        "nasolabial": [
            np.array(
                [
                    [s * 0.15, nose_b],
                    [s * 0.40, nose_b],
                    [corner + s * 0.28, b + 0.1],
                    [corner + s * 0.03, b + 0.1],
                ]
            )
            for s, corner, b in ((-1.0, ra, rb), (1.0, la, lb))
        ],
        "mouth": [_box(min(ra, la) - 0.12, max(ra, la) + 0.12, mouth_b - 0.22, mouth_b + 0.3)],
        "chin": [_box(mouth_a - 0.4, mouth_a + 0.4, mouth_b + 0.3, mouth_b + 0.85)],
    }
    return {region: [frame.to_pixels(p) for p in frame_polys[region]] for region in REGIONS}


def skin_polygons(landmarks: np.ndarray) -> list[np.ndarray]:
    """The outer cheeks, the forehead and the chin's sides (pixel coordinates of the landmarks' image): bare
    skin on most faces, and apart enough that one tube, strap or hand rarely covers most of them; the
    reference a region's colour is compared with to tell that something covers it."""
    frame = _frame(landmarks)
    boxes = [_box(-0.95, -0.55, 0.3, 0.8), _box(0.55, 0.95, 0.3, 0.8), _box(-0.5, 0.5, -0.95, -0.5),
             _box(-0.6, -0.35, 1.3, 1.6), _box(0.35, 0.6, 1.3, 1.6)]
    return [frame.to_pixels(box) for box in boxes]


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of a simple polygon (N x 2)."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    # Written out rather than with np.roll: this runs for every region of every served frame.
    twice = np.dot(x[:-1], y[1:]) - np.dot(y[:-1], x[1:]) + x[-1] * y[0] - y[-1] * x[0]
    return float(abs(twice) / 2)


def clip_polygon(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon to the rectangle [0, width] x [0, height]."""
    poly = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(poly) and poly.min() >= 0 and (poly[:, 0] <= width).all() and (poly[:, 1] <= height).all():
        return poly.copy()  # wholly inside, the common case on a served face: nothing to clip
    edges = ((0, 0.0, 1), (0, width, -1), (1, 0.0, 1), (1, height, -1))  # (axis, bound, inside sign)
    out = [np.asarray(p, np.float64) for p in poly]
    for axis, bound, sign in edges:
        if not out:
            break
        points, out = out, []
        for k, cur in enumerate(points):
            prev = points[k - 1]
            cur_in, prev_in = sign * (cur[axis] - bound) >= 0, sign * (prev[axis] - bound) >= 0
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(prev + t * (cur - prev))
            if cur_in:
                out.append(cur)
    return np.array(out).reshape(-1, 2)


@dataclass
class RegionLayout:
    """Region masks on one crop and how much of each region lies inside it."""

    masks: dict[str, np.ndarray]  # region -> H x W bool, disjoint
    visible: dict[str, float]  # region -> share of its polygon area inside the crop
    source: str  # where the landmarks came from: "landmarks", "canonical", "detector" ...
    polygons: dict[str, list[np.ndarray]]  # clipped, crop pixels

    @property
    def clipped(self) -> list[str]:
        return [r for r in REGIONS if self.visible[r] < VISIBLE_MIN]


def place_regions(
    landmarks: np.ndarray, size: int | tuple[int, int], source: str = "landmarks"
) -> RegionLayout:
    """Rasterise the regions for crop-pixel ``landmarks`` on a crop of ``size`` (side or (h, w))."""
    height, width = (size, size) if isinstance(size, int) else size
    polygons = region_polygons(landmarks)
    visible: dict[str, float] = {}
    clipped: dict[str, list[np.ndarray]] = {}
    for region in REGIONS:
        full = sum(polygon_area(p) for p in polygons[region])
        clipped[region] = _clipped(polygons[region], width, height)
        inside = sum(polygon_area(p) for p in clipped[region])
        visible[region] = inside / full if full > 0 else 0.0
    return RegionLayout(_paint(clipped, height, width, REGIONS), visible, source, clipped)


def region_masks(landmarks: np.ndarray, size: int | tuple[int, int], regions: Sequence[str]) -> dict[str, np.ndarray]:
    """The masks of ``regions`` exactly as ``place_regions`` paints them, drawing only those regions and
    the ones ahead of them in ``PRIORITY`` (the serving path's ward gate needs the eyes and the mouth)."""
    height, width = (size, size) if isinstance(size, int) else size
    unknown = sorted(set(regions) - set(PRIORITY))
    if unknown:
        raise ValueError(f"unknown region {unknown[0]!r}; the regions are {', '.join(REGIONS)}")
    needed = PRIORITY[: max(PRIORITY.index(r) for r in regions) + 1] if regions else ()
    polygons = region_polygons(landmarks)
    clipped = {region: _clipped(polygons[region], width, height) for region in needed}
    masks = _paint(clipped, height, width, needed)
    return {region: masks[region] for region in regions}


def _clipped(polygons: list[np.ndarray], width: int, height: int) -> list[np.ndarray]:
    # Pixel centres sit at integers: the crop covers [-0.5, size - 0.5] in these coordinates.
    parts = [clip_polygon(p + 0.5, width, height) - 0.5 for p in polygons]
    return [p for p in parts if len(p) >= 3]


def _paint(clipped: Mapping[str, list[np.ndarray]], height: int, width: int, regions: Sequence[str]) -> dict[str, np.ndarray]:
    """Disjoint masks of ``regions`` (each with every region ahead of it in ``PRIORITY`` among them)."""
    labels = np.full((height, width), -1, np.int16)
    for region in reversed(PRIORITY):  # the first in PRIORITY paints last and wins overlaps
        if region not in regions:
            continue
        for poly in clipped[region]:  # one at a time: fillPoly leaves the overlap of two contours empty
            cv2.fillPoly(labels, [np.round(poly * 16).astype(np.int32)], REGIONS.index(region),
                         lineType=cv2.LINE_8, shift=4)
    return {region: labels == REGIONS.index(region) for region in regions}


def canonical_landmarks(box: tuple[float, float, float, float]) -> np.ndarray:
    """The canonical 5 landmarks of a face box (x, y, w, h), in the box's pixel coordinates."""
    x, y, w, h = box
    return CANONICAL_LANDMARKS * np.array([w, h]) + np.array([x, y])


def central_box(size: int, margin: float) -> tuple[float, float, float, float]:
    """The face box a crop of ``size`` with ``margin`` was cut around (its central square)."""
    side = size / (1.0 + 2.0 * margin)
    start = (size - side) / 2
    return (start, start, side, side)


def canonical_in_crop(
    box: tuple[float, float, float, float] | None, crop_size: int, margin: float
) -> np.ndarray:
    """Canonical landmarks of a crop cut by the extraction: from the row's box through its crop affine."""
    if box is None:
        return canonical_landmarks(central_box(crop_size, margin))
    affine = crop_affine(Face(*box, score=1.0), crop_size, margin)
    return transform_points(affine, canonical_landmarks(box))


def landmarks_in_crop(
    box: tuple[float, float, float, float] | None,
    landmarks: Sequence[float] | np.ndarray | None,
    crop_size: int,
    margin: float,
    align: bool = False,
) -> tuple[np.ndarray, str]:
    """A faces-manifest row's landmarks in its crop's pixels and their source: the row's own points (kept
    by ``faces extract``) through the affine that cut the crop, else the canonical layout of its box."""
    if box is None or landmarks is None:
        return canonical_in_crop(box, crop_size, margin), "canonical"
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    affine = crop_affine(Face(*box, score=1.0, landmarks=points), crop_size, margin, align)
    return transform_points(affine, points), "landmarks"


def scale_points(points: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Pixel-centre coordinates of an image resized from ``src`` to ``dst`` pixels."""
    f = dst / src
    return (np.asarray(points, np.float64) + 0.5) * f - 0.5


def _shares(positive: np.ndarray, masks: Mapping[str, np.ndarray]) -> dict[str, float]:
    total = float(positive.sum())
    if total <= 0:
        return {name: float("nan") for name in masks}
    return {name: float(positive[mask].sum()) / total for name, mask in masks.items()}


def region_shares(positive: np.ndarray, layout: RegionLayout) -> dict[str, float]:
    """Share of the positive attribution in each placed region, and in their union (``any``)."""
    union = np.zeros(positive.shape, bool)
    for mask in layout.masks.values():
        union |= mask
    return _shares(positive, {**layout.masks, "any": union})


def present_regions(actions: Mapping[str, bool | int | None]) -> list[str]:
    """The regions whose NFCS actions are present (unknown actions count as absent)."""
    regions = {ACTION_REGION[a] for a, on in actions.items() if on and a in ACTION_REGION}
    return [r for r in REGIONS if r in regions]


def mask_shares(positive: np.ndarray, mask: np.ndarray, present: list[str]) -> dict[str, float]:
    """Against a true region mask (bit i = region i): the share of positive attribution inside the
    regions whose actions are present (``true_present``; NaN when none is) and inside any region
    (``true_any``), and the area fractions of both (``*_area``: the share of an evenly spread map)."""
    if mask.shape != positive.shape:
        raise ValueError(f"mask is {mask.shape}, attribution map is {positive.shape}")
    bits_present = sum(1 << REGIONS.index(r) for r in present)
    inside = {"true_present": (mask & bits_present) > 0, "true_any": mask > 0}
    shares = _shares(positive, inside)
    # The share a map spread evenly over the crop would get: what a share should be compared with.
    shares.update({f"{name}_area": float(region.mean()) for name, region in inside.items()})
    if not present:
        shares["true_present"] = shares["true_present_area"] = float("nan")
    return shares


# The blur that stands in for a region: wide enough (a fraction of the crop side) to erase creases, bulges
# and lip edges, while keeping the region's mean colour, so the model sees a plain patch, not a hole.
OCCLUSION_SIGMA = 0.06


def occluded(crop_bgr: np.ndarray, mask: np.ndarray, sigma: float = OCCLUSION_SIGMA) -> np.ndarray:
    """``crop_bgr`` with the pixels of ``mask`` replaced by a strong blur of the crop (edges feathered).

    The occlusion evidence blurs a region this way, and NFCS training can show faces so blurred.
    """
    side = crop_bgr.shape[0]
    blurred = cv2.GaussianBlur(crop_bgr, (0, 0), sigma * side)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, 0.01 * side))[..., None]
    mixed = crop_bgr.astype(np.float32) * (1 - soft) + blurred.astype(np.float32) * soft
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
