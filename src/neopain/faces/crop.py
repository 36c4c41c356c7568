"""Square face crops with a margin, optional eye-line alignment, border replication and resizing.

Torch-free: training and the bedside predictor cut faces with this same code. Every crop is described
by one 2x3 affine matrix mapping original image pixels to crop pixels, so region masks, landmarks or
boxes can follow the face exactly (``crop_mask``, ``transform_points``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from neopain.faces.base import Face

# Below this scale a single bilinear warp aliases; the image is first shrunk with area averaging.
_PRESHRINK_BELOW = 0.5

# New crops keep 5 % of the box side around the face (0.25 until 2026-12-03): the face then fills more of a
# small input, and on the synthetic benchmark the NFCS actions read better (mean action AUC 0.866 against 0.816
# at 0.25), also read end to end through a face detector's box (docs/NFCS.md, "The crop's margin").
DEFAULT_MARGIN = 0.05
# The margin of a crop whose settings record none: files written while 0.25 was the default.
UNRECORDED_MARGIN = 0.25


@dataclass(frozen=True)
class CropSettings:
    """How faces are cut: output side in pixels, margin per side as a fraction of the box side, align.

    ``align`` rolls the crop upright from the landmarks (the eye line level, the mouth below), by default:
    a phone held at any angle, or a baby lying sideways, gives the classifier the upright face it learnt.
    """

    size: int = 224
    margin: float = DEFAULT_MARGIN
    align: bool = True

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"crop size must be at least 8 pixels, got {self.size}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"crop margin must be within [0, 2], got {self.margin}")

    def key(self) -> str:
        """A stable text form, part of the crop cache key."""
        return f"size={self.size},margin={self.margin:g},align={int(self.align)}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CropSettings:
        """From crop.json or model metadata; other keys (the detector) are ignored; no margin: the old default."""
        return cls(**{"margin": UNRECORDED_MARGIN, **{k: data[k] for k in ("size", "margin", "align") if k in data}})

    @classmethod
    def unrecorded(cls, size: int = 224) -> CropSettings:
        """How faces were cut where nothing records it (a model file, faces folder or checkpoint without
        crop settings): with the margin that was the default when they were written."""
        return cls.from_dict({"size": size})


CROP_FILE = "crop.json"  # beside a faces manifest: how its crops were cut (training and serving must agree)


def read_crop_file(faces_manifest: str | Path) -> CropSettings | None:
    """The CropSettings written by ``faces extract`` beside ``faces_manifest``, or None if there is none."""
    file = Path(faces_manifest).parent / CROP_FILE
    if not file.is_file():
        return None
    try:
        return CropSettings.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{file}: not a crop settings file ({exc})") from exc


def eye_angle(face: Face) -> float:
    """Angle in degrees of the line from the subject's right eye to the left eye (0 = level)."""
    if face.landmarks is None:
        raise ValueError("eye-line alignment needs landmarks; this face has none")
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    return math.degrees(math.atan2(ly - ry, lx - rx))


def crop_affine(face: Face, size: int = 224, margin: float = 0.25, align: bool = False) -> np.ndarray:
    """The 2x3 matrix taking image pixels to the crop: the box centre to the crop centre, the square of
    side ``max(w, h) * (1 + 2 * margin)`` to ``size`` pixels, rotated so the eyes are level if ``align``
    (and the face has landmarks; otherwise no rotation)."""
    side = max(face.w, face.h) * (1.0 + 2.0 * margin)
    if side <= 0:
        raise ValueError(f"face box {face.box} has no area")
    scale = size / side
    angle = math.radians(eye_angle(face)) if align and face.landmarks is not None else 0.0
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    # Rotating by -angle: [[cos, sin], [-sin, cos]] levels a line that rose by +angle (y points down).
    linear = np.array([[cos, sin], [-sin, cos]])
    centre_in = np.array(face.center)
    centre_out = np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    return np.hstack([linear, (centre_out - linear @ centre_in)[:, None]])


def transform_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 2x3 affine."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ affine[:, :2].T + affine[:, 2]


def _preshrunk(image: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink the image by area averaging when the crop is much smaller; return it and the remaining affine."""
    scale = math.sqrt(abs(np.linalg.det(affine[:, :2])))
    if scale >= _PRESHRINK_BELOW:
        return image, affine
    factor = scale / _PRESHRINK_BELOW
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    fx, fy = small.shape[1] / width, small.shape[0] / height
    # Pixel centres: x_small = (x + 0.5) * f - 0.5, inverted and composed with the crop affine.
    unshrink = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
    return small, affine @ unshrink


def warp_crop(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Apply a crop affine to an image (bilinear, border replicated where the square leaves the image)."""
    source, remaining = _preshrunk(image, affine)
    return cv2.warpAffine(
        source, remaining, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def crop_face(
    image_bgr: np.ndarray, face: Face, size: int = 224, margin: float = 0.25, align: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``face`` out of ``image_bgr`` as a ``size`` x ``size`` square; returns (crop, affine used)."""
    affine = crop_affine(face, size, margin, align)
    return warp_crop(image_bgr, affine, size), affine


def crop_with(image_bgr: np.ndarray, face: Face, settings: CropSettings) -> tuple[np.ndarray, np.ndarray]:
    return crop_face(image_bgr, face, settings.size, settings.margin, settings.align)


def crop_mask(mask: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Cut a region mask with the affine of its image: nearest neighbour, zero (no region) outside."""
    return cv2.warpAffine(
        mask, affine, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
