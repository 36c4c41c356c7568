"""What ``neopain explain`` reads: face crops from a faces manifest, or images (files, folders, a manifest
of whole images) to detect and crop like training. Yields one ``Item`` (a crop at the model's input size
with its landmarks, label and true region mask when known) or one ``Missed`` (the reason) per input,
lazily, so a folder of any size runs in bounded memory. Torch-free.

Landmarks for the NFCS regions, in crop pixels:

- images: the detector's 5 landmarks carried through the crop affine; a detector without landmarks
  (``box``: manifest boxes) gets the canonical layout of its box (``explain_regions.CANONICAL_LANDMARKS``);
- crops of a faces manifest (rows with ``source_path``): with ``--detector box``, the canonical layout of
  the row's box carried by the crop affine the extraction used (``margin``; the crop's central square
  when the row has no box); with a real detector, the detector run on the crop, falling back to the
  canonical layout when it finds no face there (``layout`` says which, per row).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neopain.data import ManifestError, Sample, read_manifest, resolve_path
from neopain.faces import (
    CropSettings,
    DetectorInputError,
    Face,
    FaceDetector,
    canonical_landmarks,
    choose_face,
    create_detector,
    crop_face,
    crop_mask,
    landmarks_in_crop,
    present_regions,
    scale_points,
    transform_points,
)
from neopain.pixels.imageio import ImageError, is_image_file, read_image

__all__ = ["InputError", "Item", "Missed", "iter_items", "list_sources"]

NO_FACE = "no face detected"


class InputError(ValueError):
    """An input argument is neither an image, a folder of images nor a manifest CSV."""


@dataclass
class Item:
    """One face ready to explain."""

    name: str  # the input it came from (file path or manifest row path)
    crop: np.ndarray  # BGR uint8, input_size x input_size
    landmarks: np.ndarray  # 5 x 2, crop pixels
    layout: str  # "detector" | "canonical" | "canonical (no face in crop)"
    label: str = ""  # the true label when known
    mask: np.ndarray | None = None  # true region mask (bit i = region i), crop pixels
    present: list[str] | None = None  # regions whose NFCS actions are present, when known


@dataclass
class Missed:
    name: str
    reason: str


@dataclass(frozen=True)
class _Source:
    """One thing to explain: an image file, or a manifest row (with its manifest)."""

    name: str
    path: Path
    sample: Sample | None = None
    manifest: Path | None = None

    @property
    def is_crop(self) -> bool:
        return self.sample is not None and bool(self.sample.source_path)


def list_sources(inputs: Sequence[str | Path]) -> list[_Source]:
    """Expand the command-line inputs: CSV manifests into rows, folders into their images (sorted)."""
    sources: list[_Source] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
            sources += [_Source(p.relative_to(path).as_posix(), p) for p in files]
        elif path.suffix.lower() == ".csv":
            if not path.is_file():
                raise InputError(f"{path}: manifest not found")
            sources += [_Source(s.path, resolve_path(path, s.path), s, path) for s in read_manifest(path)]
        elif is_image_file(path):
            sources.append(_Source(path.as_posix(), path))
        else:
            raise InputError(f"{path}: not an image, a folder of images or a manifest CSV")
    return sources


class _Reader:
    """Turns sources into items with one detector, the crop settings and the model's input size."""

    def __init__(self, input_size: int, detector: str, settings: CropSettings) -> None:
        self.size, self.settings = input_size, settings
        self.detector_name = detector
        self.detector: FaceDetector | None = None if detector == "box" else create_detector(detector)

    def item(self, source: _Source) -> Item | Missed:
        try:
            return self._crop_item(source) if source.is_crop else self._image_item(source)
        except (ImageError, DetectorInputError, ManifestError, ValueError) as exc:
            return Missed(source.name, str(exc))

    def _known(self, source: _Source) -> tuple[str, list[str] | None]:
        sample = source.sample
        if sample is None:
            return "", None
        return sample.label, None if sample.actions is None else present_regions(sample.actions)

    def _read_mask(self, source: _Source, shape: tuple[int, int]) -> np.ndarray | None:
        if source.sample is None or not source.sample.mask_path:
            return None
        assert source.manifest is not None
        file = resolve_path(source.manifest, source.sample.mask_path)
        mask = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        if mask is None or mask.ndim != 2:
            raise ImageError(f"{file}: unreadable region mask (expected a one-channel PNG)")
        if mask.shape != shape:
            raise ImageError(
                f"{file}: mask is {mask.shape[1]}x{mask.shape[0]}, its image {shape[1]}x{shape[0]}"
            )
        return mask

    def _crop_item(self, source: _Source) -> Item:
        crop = read_image(source.path)
        if crop.shape[0] != crop.shape[1]:
            raise ImageError(
                f"{source.path}: a face crop should be square, got {crop.shape[1]}x{crop.shape[0]}"
            )
        side = crop.shape[0]
        landmarks, layout = None, "canonical"
        if self.detector is not None:
            face = choose_face(self.detector.detect(crop))
            if face is not None and face.landmarks is not None:
                landmarks, layout = face.landmarks, "detector"
            else:
                layout = "canonical (no face in crop)"
        if landmarks is None:
            sample = source.sample
            landmarks, placed = landmarks_in_crop(
                sample.box if sample else None, sample.landmarks if sample else None, side,
                self.settings.margin, self.settings.align,
            )
            layout = layout if placed == "canonical" else placed
        mask = self._read_mask(source, (side, side))
        if side != self.size:
            crop = cv2.resize(
                crop,
                (self.size, self.size),
                interpolation=cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR,
            )
            landmarks = scale_points(landmarks, side, self.size)
            if mask is not None:
                mask = cv2.resize(mask, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        label, present = self._known(source)
        return Item(source.name, crop, np.asarray(landmarks, np.float64), layout, label, mask, present)

    def _face(self, image: np.ndarray, source: _Source) -> Face:
        if self.detector is None:
            if source.sample is not None and source.sample.box is not None:
                points = source.sample.landmarks
                return Face(*source.sample.box, score=1.0, landmarks=None if points is None else np.asarray(points))
            # An image without a box under 'box': the image is taken as a face crop already.
            h, w = image.shape[:2]
            side = min(h, w) / (1.0 + 2.0 * self.settings.margin)
            return Face((w - side) / 2, (h - side) / 2, side, side, score=1.0)
        faces = (
            self.detector.detect_sample(image, source.sample)
            if source.sample
            else self.detector.detect(image)
        )
        face = choose_face(faces)
        if face is None:
            raise DetectorInputError(NO_FACE)
        return face

    def _image_item(self, source: _Source) -> Item:
        image = read_image(source.path)
        mask = self._read_mask(source, image.shape[:2])
        face = self._face(image, source)
        crop, affine = crop_face(image, face, self.size, self.settings.margin, self.settings.align)
        if face.landmarks is not None:
            landmarks, layout = transform_points(affine, face.landmarks), "detector"
        else:
            landmarks, layout = transform_points(affine, canonical_landmarks(face.box)), "canonical"
        if mask is not None:
            mask = crop_mask(mask, affine, self.size)
        label, present = self._known(source)
        return Item(source.name, crop, landmarks, layout, label, mask, present)


def iter_items(
    inputs: Sequence[str | Path],
    input_size: int,
    detector: str = "yunet",
    settings: CropSettings | None = None,
    limit: int | None = None,
) -> Iterator[Item | Missed]:
    """Items (or the reason there is none) for every input, in order, at most ``limit`` of them."""
    sources = list_sources(inputs)
    if limit is not None:
        sources = sources[:limit]
    reader = _Reader(input_size, detector, settings or CropSettings(size=input_size))
    for source in sources:
        yield reader.item(source)
