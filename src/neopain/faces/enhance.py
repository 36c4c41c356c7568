"""A second look for the detector at a frame in which it found no face: the ward's light evened out.

Under the phototherapy lamps a frame is blue, at night the camera's frame is grey, flat and grainy: YuNet,
trained on everyday photographs, then often finds nothing. The copy it looks at again has the colour cast
removed (grey world: each channel scaled to the frame's mean grey), the sensor grain smoothed (a 5 x 5
Gaussian) and the local contrast of the lightness restored (CLAHE). On evened copies YuNet also sees
faces in things (a coffee cup, a clock face, the moon: skimage's photographs, scores 0.73-0.75, as high
as real faces found this way), so a face of the second look counts only when the mirrored copy shows it
too, and the predictor looks twice only under the lamps' light or a night camera's grey, where the light
explains the miss. Only the detector sees the copies: the crop is cut from the frame as it is, so the
classifier reads what it was trained on. Measured in docs/ROBUSTNESS.md.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from neopain.faces.base import Face, box_iou, choose_face

CLAHE_CLIP = 2.0
CLAHE_TILES = (8, 8)
GRAIN_KERNEL = (5, 5)


def grey_world(image_bgr: np.ndarray) -> np.ndarray:
    """Each channel scaled so its mean is the frame's mean grey (a colour cast removed)."""
    pixels = image_bgr.astype(np.float32)
    means = pixels.reshape(-1, 3).mean(axis=0)
    pixels *= means.mean() / np.maximum(means, 1.0)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def evened_for_detection(image_bgr: np.ndarray) -> np.ndarray:
    """The frame with its light evened out (grey world, grain smoothed, CLAHE on the lightness), for a
    detector's second look; same size, BGR uint8."""
    smooth = cv2.GaussianBlur(grey_world(image_bgr), GRAIN_KERNEL, 0)
    lab = cv2.cvtColor(smooth, cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(CLAHE_CLIP, CLAHE_TILES).apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


# The mirrored look's face must overlap the first's this much to confirm it.
MIRROR_MIN_IOU = 0.5


def mirrored_box(face: Face, width: int) -> tuple[float, float, float, float]:
    """The box of a face found on the left-right mirrored frame, in the frame's own pixels."""
    return (width - face.x - face.w, face.y, face.w, face.h)


def confirmed_by_mirror(faces: list[Face], mirrored: list[Face], width: int) -> list[Face]:
    """``faces`` when the mirrored frame's faces include the chosen one again; [] otherwise."""
    chosen = choose_face(faces)
    if chosen is None:
        return []
    again = any(box_iou(chosen.box, mirrored_box(f, width)) >= MIRROR_MIN_IOU for f in mirrored)
    return faces if again else []


def second_look(image_bgr: np.ndarray, detect: Callable[[np.ndarray], list[Face]],
                detect_mirror: Callable[[np.ndarray], list[Face]]) -> list[Face]:
    """The faces ``detect`` finds on the evened frame, confirmed by ``detect_mirror`` on its mirror image."""
    evened = evened_for_detection(image_bgr)
    faces = detect(evened)
    if not faces:
        return []
    return confirmed_by_mirror(faces, detect_mirror(np.ascontiguousarray(evened[:, ::-1])), image_bgr.shape[1])
