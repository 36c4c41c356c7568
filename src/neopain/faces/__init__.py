"""Face detection and face crops.

Importing this package never imports torch: the RetinaFace torch backend is loaded by
``create_detector("retinaface")`` only.
"""

from __future__ import annotations

from neopain.faces.base import (
    LANDMARK_NAMES,
    BoxDetector,
    DetectorInputError,
    Face,
    FaceDetector,
    available_detectors,
    box_iou,
    choose_face,
    create_detector,
    register_detector,
)
from neopain.faces.crop import CropSettings, crop_affine, crop_face, crop_mask, transform_points, warp_crop

__all__ = [
    "LANDMARK_NAMES",
    "BoxDetector",
    "CropSettings",
    "DetectorInputError",
    "Face",
    "FaceDetector",
    "available_detectors",
    "box_iou",
    "choose_face",
    "create_detector",
    "crop_affine",
    "crop_face",
    "crop_mask",
    "register_detector",
    "transform_points",
    "warp_crop",
]
