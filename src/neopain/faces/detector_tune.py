"""RetinaFace MobileNet-0.25 fine-tuned on a manifest's boxes and landmarks (``neopain faces tune-detector``).

A ward's own labelled pictures (or the synthetic ``--preset nicu``) teach the detector the faces YuNet and the
original RetinaFace miss: under the phototherapy lamps with eye shields, in infrared, behind a CPAP mask. The
result is an ONNX file served by ``RetinaFaceOnnxDetector`` (give its path wherever a detector is named).

Each picture is turned by the quarter turn that brings its face closest to upright (the bedside's
``RotatingDetector`` looks at the four turns, so the detector itself needs only to find faces within 45 degrees
of upright), then zoomed, placed and mirrored at random from one seeded generator. Torch-free (the
training itself is in ``detector_training``, imported when a tuning runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neopain.data import Sample, read_manifest, resolve_path
from neopain.faces.base import Face, shrunk
from neopain.faces.rotate import turn_face, turn_image
from neopain.pixels.imageio import read_image

_MIRRORED = [1, 0, 2, 4, 3]  # landmark order after a horizontal flip: the eyes and mouth corners swap


class DetectorDataError(ValueError):
    """A manifest that cannot teach a detector (no row with a box and five landmarks)."""


@dataclass(frozen=True)
class TuneConfig:
    """Everything that changes the tuned detector; recorded in its checkpoint and ONNX metadata."""

    epochs: int = 8
    batch_size: int = 16
    size: int = 320  # side of the square training input
    lr: float = 1e-4  # 1e-3, the original training's from ImageNet, unsettles the pretrained detector
    seed: int = 0
    face_min: float = 0.2  # the face's side in the input, as a share of it, drawn in [face_min, face_max]
    face_max: float = 0.8
    # Of the pictures each epoch draws, face-free ones: without them the tuned detector saw faces in 44 of the 64
    # turns of face-free photographs docs/FACES.md tests it on, with half of them 20 (YuNet: 12).
    negative_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.face_min <= self.face_max <= 1:
            raise ValueError(f"face_min and face_max need 0 < face_min <= face_max <= 1, got "
                             f"{self.face_min}, {self.face_max}")
        if not 0 <= self.negative_share < 1:
            raise ValueError(f"negative_share needs 0 <= share < 1, got {self.negative_share}")
        if self.size % 32:
            raise ValueError(f"size must be a multiple of 32 (the detector's coarsest stride), got {self.size}")


# scikit-image's photographs without a face, none of those bench/real_photos.py and the tests look for false
# faces in (coffee, chelsea, rocket, horse, clock, the motorcycle): what the tuned detector must keep calling
# background after hundreds of pictures that all hold a face.
FACE_FREE_PHOTOS = ("brick", "cell", "coins", "colorwheel", "grass", "gravel", "hubble_deep_field",
                    "immunohistochemistry", "logo", "microaneurysms", "moon", "page", "retina", "text")


@dataclass(frozen=True)
class Example:
    """One upright picture and its face: box (x, y, w, h) and (5, 2) landmarks in its pixels; a picture
    without a face has neither."""

    image: np.ndarray
    box: tuple[float, float, float, float] | None
    landmarks: np.ndarray | None


def quarter_turn_to_upright(landmarks: np.ndarray) -> int:
    """The clockwise quarter turn (0, 90, 180, 270) that brings the eye line closest to level."""
    dx, dy = landmarks[1] - landmarks[0]  # the subject's right eye to left eye points +x when upright
    roll = math.degrees(math.atan2(dy, dx))
    return int(-round(roll / 90.0) * 90) % 360


def upright_example(image: np.ndarray, sample: Sample, side: int | None = None) -> Example:
    """The picture turned so that its face is within 45 degrees of upright, and shrunk (area-averaged) so that
    the face is at most ``side`` pixels across: no draw enlarges it past that, and a phone's 12 MP photograph
    need not stay in memory whole."""
    assert sample.box is not None and sample.landmarks is not None
    face = Face(*sample.box, score=1.0, landmarks=np.asarray(sample.landmarks))
    degrees = quarter_turn_to_upright(face.landmarks)
    height, width = image.shape[:2]
    turned, image = turn_face(face, degrees, width, height), turn_image(image, degrees)
    box, points = np.array(turned.box, np.float64), np.asarray(turned.landmarks, np.float64)
    if side is not None and max(box[2:]) > side:
        image, (sx, sy) = _shrunk(image, side / max(box[2:]))
        box, points = box * (sx, sy, sx, sy), points * (sx, sy)
    return Example(image, (float(box[0]), float(box[1]), float(box[2]), float(box[3])), points)


def _shrunk(image: np.ndarray, scale: float) -> tuple[np.ndarray, tuple[float, float]]:
    """``image`` area-averaged by about ``scale``, and the exact (x, y) scales its rounded size gives."""
    small = shrunk(image, scale)
    return small, (small.shape[1] / image.shape[1], small.shape[0] / image.shape[0])


def load_examples(manifest: Path, side: int | None = None) -> list[Example]:
    """Every row with a box and landmarks, upright; a clear error when there is none. One face per picture:
    a manifest names each picture once (``read_manifest`` refuses a repeated path)."""
    samples = [s for s in read_manifest(manifest) if s.box is not None and s.landmarks is not None]
    if not samples:
        raise DetectorDataError(f"{manifest}: no row has a face box and the five landmarks (box_*, lm_* columns)")
    return [upright_example(read_image(resolve_path(manifest, s.path)), s, side) for s in samples]


def face_free_examples() -> list[Example]:
    """``FACE_FREE_PHOTOS`` as examples without a face (scikit-image, installed with neopain[train])."""
    import skimage.data

    out = []
    for name in FACE_FREE_PHOTOS:
        image = np.asarray(getattr(skimage.data, name)())
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., 2::-1]
        out.append(Example(np.ascontiguousarray(image.astype(np.uint8)), None, None))
    return out


def epoch_pool(faces: int, negatives: int, share: float) -> list[int]:
    """Indices of one epoch's draws: every face picture once, and face-free ones up to ``share``."""
    extra = 0 if negatives == 0 else round(faces * share / (1 - share))
    return list(range(faces)) + [faces + k % negatives for k in range(extra)]


def _background(example: Example, config: TuneConfig, rng: np.random.Generator) -> np.ndarray:
    """A random square window of a face-free picture, at the input size."""
    height, width = example.image.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(height, width))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    window = example.image[top : top + side, left : left + side]
    return cv2.resize(window, (config.size, config.size), interpolation=cv2.INTER_AREA)


def augmented(example: Example, config: TuneConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image size x size, target (14,): box corners and landmarks relative to the size; NaN without a face)
    for one draw."""
    size = config.size
    if example.box is None or example.landmarks is None:
        image = _background(example, config, rng)
        image = image[:, ::-1] if rng.random() < 0.5 else image
        return _jittered(image, rng), np.full(14, np.nan)
    x, y, w, h = example.box
    source, scales = example.image, (1.0, 1.0)
    wanted = rng.uniform(config.face_min, config.face_max) * size / max(w, h)
    if wanted < 1:  # warpAffine interpolates linearly whatever it is told: shrink by area first
        source, scales = _shrunk(source, wanted)
    sx, sy = (scales[0], scales[1]) if wanted < 1 else (wanted, wanted)
    # The face lands anywhere it fits whole (centred when it cannot).
    left, top = (rng.uniform(min(size - side, 0.0) / 2, max(size - side, 0.0)) for side in (w * sx, h * sy))
    shift = np.array([left - x * sx, top - y * sy])
    warp = np.array([[1.0 if wanted < 1 else sx, 0.0, shift[0]], [0.0, 1.0 if wanted < 1 else sy, shift[1]]])
    fill = tuple(float(v) for v in rng.uniform(40, 200, 3))
    image = cv2.warpAffine(source, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=fill)
    corners = np.array([[x, y], [x + w, y + h]]) * (sx, sy) + shift
    points = example.landmarks * (sx, sy) + shift
    if rng.random() < 0.5:
        image = image[:, ::-1]
        # Box corners lie on pixel edges, landmarks on pixel centres (column x goes to size - 1 - x).
        corners = np.array([[size - corners[1, 0], corners[0, 1]], [size - corners[0, 0], corners[1, 1]]])
        points = np.stack([size - 1 - points[:, 0], points[:, 1]], axis=1)[_MIRRORED]
    return _jittered(image, rng), np.concatenate([corners.ravel(), points.ravel()]) / size


def _jittered(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain, shift = rng.uniform(0.75, 1.25), rng.uniform(-25, 25)
    return np.ascontiguousarray(np.clip(image.astype(np.float32) * gain + shift, 0, 255).astype(np.uint8))


def tune_from_manifest(
    manifest: Path, out: Path, config: TuneConfig, progress: Callable[[int, float], None] | None = None
) -> Path:
    """Fine-tune the original checkpoint on the manifest's faces; returns the ONNX file written in ``out``."""
    from neopain.core.weights import resolve

    try:
        from neopain.faces.detector_training import save_tuned, tune
        from neopain.faces.retinaface_net import load_retinaface

        negatives = face_free_examples()
    except ImportError as exc:
        raise ImportError(f"tuning a detector needs neopain[train] (torch, onnx, scikit-image): {exc}") from exc
    examples = load_examples(manifest, side=config.size)
    net = load_retinaface(str(resolve("retinaface_mobilenet0.25")))
    tune(net, examples, config, progress, negatives=negatives)
    return save_tuned(net, config, manifest, out)
