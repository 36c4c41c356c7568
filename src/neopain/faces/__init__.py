"""Faces found and cut: detectors (YuNet, RetinaFace, boxes, any of them at any roll), the training / serving
crop, and where the NFCS regions lie on a face. Importing it never imports torch (RetinaFace loads on use).
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "BoxDetector": "base",
    "DetectorInputError": "base",
    "Face": "base",
    "FaceDetector": "base",
    "LANDMARK_NAMES": "base",
    "available_detectors": "base",
    "box_iou": "base",
    "choose_face": "base",
    "create_detector": "base",
    "register_detector": "base",
    "CropSettings": "crop",
    "crop_affine": "crop",
    "crop_face": "crop",
    "crop_mask": "crop",
    "crop_with": "crop",
    "read_crop_file": "crop",
    "transform_points": "crop",
    "warp_crop": "crop",
    "DetectorDataError": "detector_tune",
    "TuneConfig": "detector_tune",
    "tune_from_manifest": "detector_tune",
    "evened_for_detection": "enhance",
    "second_look": "enhance",
    "ExtractSummary": "extract",
    "extract_faces": "extract",
    "FEATURE_SCALE": "regions",
    "LandmarkError": "regions",
    "canonical_in_crop": "regions",
    "canonical_landmarks": "regions",
    "skin_polygons": "regions",
    "landmarks_in_crop": "regions",
    "mask_shares": "regions",
    "place_regions": "regions",
    "region_masks": "regions",
    "occluded": "regions",
    "OCCLUSION_SIGMA": "regions",
    "present_regions": "regions",
    "region_shares": "regions",
    "scale_points": "regions",
    "export_retinaface_onnx": "retinaface",
    "ROTATION_MODES": "rotate",
    "RotatingDetector": "rotate",
    "roll_affine": "rotate",
    "roll_image": "rotate",
    "turn_face": "rotate",
    "turn_image": "rotate",
    "unroll_face": "rotate",
    "unturn_face": "rotate",
    "upright_detector": "rotate",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
