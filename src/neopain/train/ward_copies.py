"""The ward's conditions drawn onto training crops (``neopain train --augment nicu``): any dataset's faces
learn the phototherapy lamps, the night camera, CPAP, a pacifier, tape and a caregiver's hand.

A share of the training faces gets one copy with one condition drawn on the crop, placed from the face's
landmarks in the crop (``faces.landmarks_in_crop``: the manifest's points, or the canonical layout of the
box). A region the drawing covers for half or more is hidden: its actions and the count become unknown in
the copy, never absent, and its visibility target (``--targets ...,visible``) is 0. The checkpoint records the conditions, so the exported model's gate reads through
them (``inference/ward.py``). Each copy's condition, colours and jitter come from one seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from neopain.data import Sample
from neopain.faces import LandmarkError, place_regions
from neopain.scales.nfcs import ACTION_REGION, REGIONS
from neopain.train.data import FaceSet
from neopain.train.occlusion import copied_visibility, with_copies

COPY_CONDITIONS = ("phototherapy", "infrared", "cpap_prongs", "cpap_mask", "pacifier", "tape", "caregiver_hand")
# What the copies teach, as the manifest's words (eye shields come with the lamps).
TAUGHT = (*COPY_CONDITIONS, "eye_shields")
_HIDDEN_FROM = 0.5  # a region covered this much is hidden
_DARK = ((20, 20, 25), (110, 55, 40), (240, 238, 236), (100, 50, 80))  # BGR shields: black, navy, white, purple
_PLASTIC = ((245, 240, 230), (240, 220, 185), (205, 230, 242))
_PACIFIER = ((180, 150, 240), (240, 190, 140), (110, 225, 245), (190, 230, 180))
_GLOVE = ((220, 135, 115), (210, 120, 150), (205, 225, 235))


@dataclass(frozen=True)
class _Face:
    """A crop's landmarks in its pixels and the scale of the face (the eye distance)."""

    points: np.ndarray  # 5 x 2
    eye_gap: float

    @property
    def eyes(self) -> np.ndarray:
        return self.points[:2]

    @property
    def mouth(self) -> np.ndarray:
        return (self.points[3] + self.points[4]) / 2

    def along(self) -> np.ndarray:
        """Unit vector along the eye line (right eye to left)."""
        u = self.points[1] - self.points[0]
        return u / max(np.hypot(*u), 1e-6)

    def down(self) -> np.ndarray:
        u = self.along()
        return np.array([-u[1], u[0]])


def _fill(layer: np.ndarray, polygons: Sequence[np.ndarray]) -> None:
    cv2.fillPoly(layer, [np.round(p * 16).astype(np.int32) for p in polygons], 255, cv2.LINE_AA, 4)


def _ellipse(centre: np.ndarray, face: _Face, a: float, b: float) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)[:, None]
    return centre + face.eye_gap * (a * np.cos(t) * face.along() + b * np.sin(t) * face.down())


def _blend(image: np.ndarray, layer: np.ndarray, colour: Sequence[int], opacity: float) -> np.ndarray:
    alpha = layer.astype(np.float32)[..., None] / 255 * opacity
    image[:] = (image * (1 - alpha) + np.asarray(colour, np.float32) * alpha).astype(np.uint8)
    return alpha[..., 0]


def _shields(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    layer = np.zeros(image.shape[:2], np.uint8)
    _fill(layer, [_ellipse(eye, face, 0.36, 0.26) for eye in face.eyes])
    mid = face.eyes.mean(axis=0)
    band = [mid + face.eye_gap * (s * 1.5 * face.along() + d * 0.08 * face.down()) for s, d in
            ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    _fill(layer, [np.array(band)])
    return _blend(image, layer, _DARK[rng.integers(len(_DARK))], 1.0)


def phototherapy(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    """The lamps' blue light, and eye shields (always on under them)."""
    image[:] = np.clip(image * np.array([1.45, 0.72, 0.42]) * 1.15, 0, 255).astype(np.uint8)
    return _shields(image, face, rng)


def infrared(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    """A night camera's frame: grey, flatter, grainier."""
    grey = image[..., 0] * 0.15 + image[..., 1] * 0.3 + image[..., 2] * 0.55
    grey = 140 + 0.85 * (grey - grey.mean()) + rng.normal(0, 9, grey.shape)
    image[:] = np.clip(grey, 0, 255).astype(np.uint8)[..., None]
    return np.zeros(image.shape[:2], np.float32)


def cpap_mask(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    nose, mouth, u, v, d = face.points[2], face.mouth, face.along(), face.down(), face.eye_gap
    outline = np.array([nose - 0.3 * d * v, nose + 0.45 * d * u, mouth + 0.6 * d * u + 0.15 * d * v,
                        mouth + 0.35 * d * v, mouth - 0.6 * d * u + 0.15 * d * v, nose - 0.45 * d * u])
    layer = np.zeros(image.shape[:2], np.uint8)
    _fill(layer, [outline])
    return _blend(image, layer, _PLASTIC[rng.integers(len(_PLASTIC))], 0.9)


def cpap_prongs(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    base, u, v, d = face.points[2] + 0.15 * face.eye_gap * face.down(), face.along(), face.down(), face.eye_gap
    layer = np.zeros(image.shape[:2], np.uint8)
    _fill(layer, [np.array([base - 0.35 * d * u - 0.07 * d * v, base + 0.35 * d * u - 0.07 * d * v,
                            base + 0.35 * d * u + 0.08 * d * v, base - 0.35 * d * u + 0.08 * d * v])])
    for s in (-1, 1):
        tube = np.array([base + s * 0.3 * d * u, base + s * 1.6 * d * u - 0.4 * d * v])
        cv2.polylines(layer, [np.round(tube * 16).astype(np.int32)], False, 255, max(1, round(0.14 * d)),
                      cv2.LINE_AA, 4)
    return _blend(image, layer, _PLASTIC[rng.integers(len(_PLASTIC))], 0.9)


def pacifier(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    layer = np.zeros(image.shape[:2], np.uint8)
    _fill(layer, [_ellipse(face.mouth, face, 0.55, 0.38)])
    return _blend(image, layer, _PACIFIER[rng.integers(len(_PACIFIER))], 0.95)


def tape(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    centre = (face.points[2] + face.mouth) / 2
    u, v, d = face.along(), face.down(), face.eye_gap
    layer = np.zeros(image.shape[:2], np.uint8)
    _fill(layer, [np.array([centre + s * 0.1 * d * u - 0.06 * d * v, centre + s * 1.0 * d * u - 0.14 * d * v,
                            centre + s * 1.0 * d * u + 0.05 * d * v, centre + s * 0.1 * d * u + 0.08 * d * v])
                  for s in (-1, 1)])
    return _blend(image, layer, _PLASTIC[rng.integers(len(_PLASTIC))], 0.85)


def caregiver_hand(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    side = float(rng.choice([-1.0, 1.0]))
    u, v, d = face.along(), face.down(), face.eye_gap
    brow = face.eyes.mean(axis=0) - 0.45 * d * v
    layer = np.zeros(image.shape[:2], np.uint8)
    _fill(layer, [_ellipse(brow + side * 1.4 * d * u, face, 0.6, 0.5)])
    for k in range(4):
        y = (k - 1.5) * 0.2 * d
        root, tip = brow + side * 1.1 * d * u + y * v, brow + side * (0.1 - 0.05 * abs(k - 1.5)) * d * u + y * v
        cv2.polylines(layer, [np.round(np.array([root, tip]) * 16).astype(np.int32)], False, 255,
                      max(1, round(0.16 * d)), cv2.LINE_AA, 4)
    return _blend(image, layer, _GLOVE[rng.integers(len(_GLOVE))], 1.0)


DRAW: dict[str, Callable[[np.ndarray, _Face, np.random.Generator], np.ndarray]] = {
    "phototherapy": phototherapy, "infrared": infrared, "cpap_prongs": cpap_prongs, "cpap_mask": cpap_mask,
    "pacifier": pacifier, "tape": tape, "caregiver_hand": caregiver_hand,
}


def trained_conditions(samples: Sequence[Sample], copies: float) -> list[str]:
    """The ward's conditions the training pictures showed, drawn copies included (export records them)."""
    shown = {c for s in samples for c in s.conditions}
    return sorted(shown | set(TAUGHT) if copies else shown)


def hidden_by(cover: np.ndarray, points: np.ndarray) -> tuple[str, ...]:
    """The regions (placed from ``points``) that ``cover`` hides for at least half."""
    layout = place_regions(points, cover.shape)
    return tuple(r for r in REGIONS if layout.masks[r].any() and (cover[layout.masks[r]] >= 0.5).mean() >= _HIDDEN_FROM)


def ward_copy(image_bgr: np.ndarray, points: np.ndarray, condition: str, rng: np.random.Generator):
    """A copy of one HWC BGR uint8 crop with ``condition`` drawn from its crop-pixel ``points``; and the
    regions it hides."""
    gap = float(np.hypot(*(points[1] - points[0])))
    copy = np.ascontiguousarray(image_bgr).copy()
    cover = DRAW[condition](copy, _Face(np.asarray(points, np.float64), gap), rng)
    return copy, hidden_by(cover, points)


def ward_copies(
    faces: FaceSet, landmarks: np.ndarray, fraction: float, actions: Sequence[str], seed: int
) -> tuple[FaceSet, list[str]]:
    """``faces`` plus one copy for a ``fraction`` of the first ``len(landmarks)`` of them (the training
    faces before any other copies) with one ward condition drawn (its hidden regions' actions and the count
    unknown); ``landmarks``: K x 5 x 2 in the faces' pixels. Returns the enlarged set and each copy's
    condition."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the ward copies' share must be in (0, 1], got {fraction}")
    if len(landmarks) > len(faces):
        raise ValueError(f"{len(landmarks)} landmark sets for {len(faces)} faces")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(len(landmarks))[: round(fraction * len(landmarks))])
    images = faces.images[torch.as_tensor(chosen, device=faces.images.device)].cpu().numpy()
    nfcs = None if faces.nfcs is None else faces.nfcs[torch.as_tensor(chosen, device=faces.nfcs.device)].clone()
    visible = copied_visibility(faces, chosen)
    drawn = []
    for k, i in enumerate(chosen):
        condition = COPY_CONDITIONS[int(rng.integers(len(COPY_CONDITIONS)))]
        try:
            copy, hidden = ward_copy(images[k].transpose(1, 2, 0), landmarks[i], condition, rng)
        except LandmarkError:
            copy, hidden = images[k].transpose(1, 2, 0), ()
        images[k] = copy.transpose(2, 0, 1)
        drawn.append(condition)
        if visible is not None:
            for region in hidden:
                visible[k, REGIONS.index(region)] = 0.0
        if nfcs is not None and hidden:
            for a, action in enumerate(actions):
                if ACTION_REGION[action] in hidden:
                    nfcs[k, a] = float("nan")
            nfcs[k, -1] = float("nan")
    return with_copies(faces, chosen, torch.from_numpy(images), nfcs, visible), drawn
