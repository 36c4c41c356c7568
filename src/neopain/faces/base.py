"""What every face detector shares: the ``Face`` record, the ``FaceDetector`` base and the factory.

Nothing here imports torch: backends are imported by name, on demand, by ``create_detector``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from neopain.data import LANDMARK_NAMES

if TYPE_CHECKING:
    from neopain.data import Sample

__all__ = [
    "LANDMARK_NAMES",
    "BoxDetector",
    "DetectorInputError",
    "Face",
    "FaceDetector",
    "available_detectors",
    "box_iou",
    "check_image",
    "choose_face",
    "create_detector",
    "register_detector",
    "shrunk",
]


class DetectorInputError(ValueError):
    """A detector cannot work on this input (for instance a manifest row without a face box)."""


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face: box (x, y, w, h) in image pixels, score, optional 5x2 landmarks."""

    x: float
    y: float
    w: float
    h: float
    score: float
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.landmarks is not None:
            points = np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)
            object.__setattr__(self, "landmarks", points)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    @property
    def area(self) -> float:
        return self.w * self.h

    def scaled(self, factor: float) -> Face:
        """The same face in an image resized by ``factor``."""
        landmarks = None if self.landmarks is None else self.landmarks * factor
        return Face(self.x * factor, self.y * factor, self.w * factor, self.h * factor, self.score, landmarks)

    def iou(self, other: Face | tuple[float, float, float, float]) -> float:
        return box_iou(self.box, other.box if isinstance(other, Face) else other)

    def to_dict(self) -> dict[str, Any]:
        """Plain floats (JSON round-trips them exactly, so a cached face equals the fresh one)."""
        landmarks = None if self.landmarks is None else self.landmarks.tolist()
        return {"box": [float(v) for v in self.box], "score": float(self.score), "landmarks": landmarks}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Face:
        x, y, w, h = (float(v) for v in data["box"])
        landmarks = data.get("landmarks")
        return cls(x, y, w, h, float(data["score"]), None if landmarks is None else np.asarray(landmarks))


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def choose_face(faces: list[Face]) -> Face | None:
    """The face to assess: the largest (the subject of a bedside photograph is the nearest face), then
    the best scored."""
    usable = [f for f in faces if f.w > 0 and f.h > 0]
    return max(usable, key=lambda f: (f.area, f.score), default=None)


def shrunk(image_bgr: np.ndarray, factor: float) -> np.ndarray:
    """``image_bgr`` resized by ``factor`` (< 1: area-averaged, as every detector's input is shrunk)."""
    height, width = image_bgr.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)


def check_image(image_bgr: np.ndarray) -> None:
    if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        shape = getattr(image_bgr, "shape", None)
        raise DetectorInputError(f"expected a BGR image of shape (H, W, 3), got {shape}")
    if image_bgr.dtype != np.uint8:
        raise DetectorInputError(f"expected a uint8 image, got {image_bgr.dtype}")


class FaceDetector(ABC):
    """Finds faces in a BGR uint8 image; results in image pixels, best score first.

    Large images are shrunk so the longer side is at most ``max_side`` before detection (faces in bedside
    photographs are large, and a 3008x2000 frame would cost ten times more for nothing); the faces are
    scaled back to the original pixels.
    """

    name: str = "base"

    def __init__(self, max_side: int | None = 640) -> None:
        self.max_side = max_side

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        check_image(image_bgr)
        factor = self._shrink_factor(image_bgr.shape[:2])
        if factor < 1.0:
            faces = [face.scaled(1.0 / factor) for face in self._detect(shrunk(image_bgr, factor))]
        else:
            faces = self._detect(image_bgr)
        return sorted(faces, key=lambda f: f.score, reverse=True)

    def detect_sample(self, image_bgr: np.ndarray, sample: Sample) -> list[Face]:
        """Faces for a manifest row; image detectors ignore the row, the box detector reads it."""
        return self.detect(image_bgr)

    def reset(self) -> None:
        """Forget what earlier frames taught (a new clip begins); detectors without memory do nothing."""

    def memory(self) -> object | None:
        """What this detector remembers of earlier frames (None for most): ``restore`` puts it back, so one
        detector can follow several cameras in turn."""
        return None

    def restore(self, memory: object | None) -> None:
        """Continue from a ``memory`` (None: as after ``reset``)."""
        self.reset()

    @property
    def signature(self) -> str:
        """Name plus every parameter that changes the result (part of the crop cache key)."""
        return f"{self.name}:max_side={self.max_side}"

    def cache_tag(self, sample: Sample) -> str:
        """What, besides the image bytes, determines this detector's answer for ``sample``."""
        return self.signature

    def _shrink_factor(self, shape: tuple[int, int]) -> float:
        longest = max(shape)
        if self.max_side is None or longest <= self.max_side:
            return 1.0
        return self.max_side / longest

    @abstractmethod
    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Detect on an image already shrunk to at most ``max_side``."""


class BoxDetector(FaceDetector):
    """Takes the face box from the manifest row (synthetic data, hand-annotated sets)."""

    name = "box"

    def __init__(self, max_side: int | None = None) -> None:
        super().__init__(max_side=None)

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        raise DetectorInputError("the 'box' detector reads boxes from manifest rows: call detect_sample")

    def detect_sample(self, image_bgr: np.ndarray, sample: Sample) -> list[Face]:
        check_image(image_bgr)
        if sample.box is None:
            raise DetectorInputError("no face box in the manifest row (box_x, box_y, box_w, box_h are empty)")
        height, width = image_bgr.shape[:2]
        # The manifest's landmarks (the synthetic truth, or points kept by a detector) let the crop be
        # rolled upright and the regions sit on the face, as the detector's points do at the bedside.
        face = Face(*sample.box, score=1.0, landmarks=None if sample.landmarks is None else np.asarray(sample.landmarks))
        if face.iou((0.0, 0.0, float(width), float(height))) <= 0.0:
            raise DetectorInputError(f"the manifest box {sample.box} lies outside the {width}x{height} image")
        return [face]

    @property
    def signature(self) -> str:
        return self.name

    def cache_tag(self, sample: Sample) -> str:
        return f"{self.name}:{sample.box}" + ("" if sample.landmarks is None else f":{sample.landmarks}")


_BACKENDS: dict[str, str] = {
    "yunet": "neopain.faces.yunet:YuNetDetector",
    "retinaface": "neopain.faces.retinaface:RetinaFaceDetector",
    "retinaface-onnx": "neopain.faces.retinaface_onnx:RetinaFaceOnnxDetector",
    "box": "neopain.faces.base:BoxDetector",
}


def available_detectors() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def register_detector(name: str, target: str) -> None:
    """Register a backend as ``"package.module:ClassName"`` (imported only when created)."""
    _BACKENDS[name] = target


def create_detector(name: str, **kwargs: Any) -> FaceDetector:
    """Build a detector by name ("yunet", "retinaface", "retinaface-onnx", "box"), or from the path of a
    RetinaFace ONNX file (one ``neopain faces tune-detector`` wrote)."""
    if name.lower().endswith(".onnx"):  # DETECTOR.ONNX (a Windows share) is a file too
        kwargs = {"onnx_path": name, **kwargs}
        name = "retinaface-onnx"
    if name not in _BACKENDS:
        raise ValueError(f"unknown face detector '{name}'; choose one of {', '.join(_BACKENDS)}")
    module_name, class_name = _BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**kwargs)
