"""The quality gate: when the predictor refuses to guess, and why.

A bedside tool should say "no assessment" rather than score a face it cannot see well. Reasons, in the
order they are checked: ``no_face``, ``several_faces``, ``face_too_small``, ``too_dark``,
``too_blurred``. Brightness and sharpness are measured on the face crop (not the whole frame), on a
fixed-size grey copy so that the numbers do not depend on the face's size in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from neopain.faces import Face

REASONS = ("no_face", "several_faces", "face_too_small", "too_dark", "too_blurred")
_MEASURE_SIDE = 128


@dataclass(frozen=True)
class QualityGate:
    """Thresholds of the gate. Sharpness was set on skimage's astronaut (sharp: 10.3; Gaussian blur of
    sigma 1.5 / 2 / 3 px on its 90 px face: 1.2 / 0.69 / 0.35) and the synthetic benchmark (its 404
    detected faces of 480, camera blur included: >= 1.24), so sigma >= 2 fails and no synthetic face does."""

    min_face_px: float = 48.0  # shorter side of the detected box, in image pixels
    several_faces_area_ratio: float = 0.25  # another face at least this fraction of the largest's area
    min_brightness: float = 35.0  # mean grey level (0-255) of the face crop
    min_sharpness: float = 1.0  # 100 x var(Laplacian) / var(grey) of the face crop at 128 px

    def __post_init__(self) -> None:
        if self.min_face_px < 0 or self.min_brightness < 0 or self.min_sharpness < 0:
            raise ValueError("quality gate thresholds must be >= 0")
        if not 0.0 < self.several_faces_area_ratio <= 1.0:
            raise ValueError(f"several_faces_area_ratio must be in (0, 1], got {self.several_faces_area_ratio}")


def _grey(image_bgr: np.ndarray, side: int | None = _MEASURE_SIDE) -> np.ndarray:
    if side is not None and image_bgr.shape[:2] != (side, side):
        image_bgr = cv2.resize(image_bgr, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY).astype(np.float64)


def brightness(image_bgr: np.ndarray) -> float:
    """Mean grey level, 0-255."""
    return float(_grey(image_bgr, side=None).mean())


def sharpness(crop_bgr: np.ndarray) -> float:
    """100 x variance of the Laplacian over the variance of the grey crop (at 128 px): contrast-free, so a
    dim but sharp face is not called blurred."""
    grey = _grey(crop_bgr)
    return float(100.0 * cv2.Laplacian(grey, cv2.CV_64F).var() / max(grey.var(), 1.0))


def rival_faces(faces: list[Face], chosen: Face, gate: QualityGate) -> int:
    """Faces other than ``chosen`` large enough to make the subject ambiguous (a parent's face, a twin)."""
    return sum(1 for f in faces if f is not chosen and f.area >= gate.several_faces_area_ratio * chosen.area)


def detection_reason(faces: list[Face], chosen: Face | None, frame_bgr: np.ndarray, gate: QualityGate) -> str | None:
    """The reason the detections alone rule an assessment out, or None."""
    if chosen is None:
        # In a very dark frame the detector fails for lack of light, which is the useful thing to say.
        return "too_dark" if brightness(frame_bgr) < gate.min_brightness else "no_face"
    if rival_faces(faces, chosen, gate):
        return "several_faces"
    if min(chosen.w, chosen.h) < gate.min_face_px:
        return "face_too_small"
    return None


def crop_reason(crop_bgr: np.ndarray, gate: QualityGate) -> str | None:
    """The reason the face crop itself rules an assessment out, or None."""
    if brightness(crop_bgr) < gate.min_brightness:
        return "too_dark"
    if sharpness(crop_bgr) < gate.min_sharpness:
        return "too_blurred"
    return None
