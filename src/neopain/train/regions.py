"""Where each training face's NFCS regions lie: the masks the region prior keeps the attribution in.

One mask per face at the model's input size, 1 inside any of the five NFCS regions (brow, eyes,
nasolabial folds, mouth, chin), 0 elsewhere; or one per region (``region_parts``, for region occlusion).
Two sources:

- ``mask``: the true region masks of the manifest's ``mask_path`` column (the synthetic benchmark);
- ``placed``: the regions placed, as ``neopain explain`` places them, from each row's landmarks (kept by
  ``faces extract``; the canonical layout of its face box when it has none) through the crop that
  ``faces extract`` cut (``crop.json``). Any dataset has these.

``auto`` takes ``mask`` when every row has a mask and ``placed`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from neopain.data import Sample, resolve_path
from neopain.faces import CropSettings, landmarks_in_crop, place_regions, read_crop_file, scale_points
from neopain.scales.nfcs import REGIONS, region_bit

REGION_SOURCES = ("auto", "mask", "placed")


class RegionMaskError(ValueError):
    """A region mask that cannot be read or does not fit its face."""


def resolve_source(samples: Sequence[Sample], source: str) -> str:
    """``auto`` -> ``mask`` when every row has a ``mask_path``, else ``placed``; others are checked."""
    if source not in REGION_SOURCES:
        raise ValueError(f"region source must be one of {REGION_SOURCES}, got '{source}'")
    if source == "auto":
        return "mask" if samples and all(s.mask_path for s in samples) else "placed"
    return source


def _true_parts(sample: Sample, manifest_file: str | Path, size: int) -> np.ndarray:
    if not sample.mask_path:
        raise RegionMaskError(f"{manifest_file}: row for {sample.path} has no mask_path (use the 'placed' regions)")
    file = resolve_path(manifest_file, sample.mask_path)
    mask = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise RegionMaskError(f"{file} (row for {sample.path}): unreadable region mask (expected a one-channel PNG)")
    face = resolve_path(manifest_file, sample.path)
    with Image.open(face) as image:  # reads the header only
        width, height = image.size
    if mask.shape != (height, width):
        raise RegionMaskError(
            f"{file} (row for {sample.path}): mask is {mask.shape[1]}x{mask.shape[0]}, its face {width}x{height}"
        )
    # Each pixel's value holds one bit per region (neopain.scales.nfcs.region_bit).
    return np.stack([cv2.resize(((mask & region_bit(r)) > 0).astype(np.uint8), (size, size),
                                interpolation=cv2.INTER_NEAREST) for r in REGIONS])


def _crop_points(sample: Sample, crop: CropSettings, size: int) -> tuple[np.ndarray, str]:
    points, source = landmarks_in_crop(sample.box, sample.landmarks, crop.size, crop.margin, crop.align)
    return scale_points(points, crop.size, size), source


def crop_landmarks(samples: Sequence[Sample], manifest_file: str | Path, size: int) -> np.ndarray:
    """N x 5 x 2: each face's landmarks in its crop at the model's input ``size`` (the row's own points
    through the crop of ``crop.json``, or the canonical layout of its box)."""
    crop = read_crop_file(manifest_file) or CropSettings.unrecorded()
    return np.stack([_crop_points(s, crop, size)[0] for s in samples]) if samples else np.zeros((0, 5, 2))


def _placed_parts(sample: Sample, crop: CropSettings, size: int) -> np.ndarray:
    points, source = _crop_points(sample, crop, size)
    layout = place_regions(points, size, source=source)
    return np.stack([layout.masks[r] for r in REGIONS]).astype(np.uint8)


def region_parts(
    samples: Sequence[Sample], manifest_file: str | Path, size: int, source: str = "auto"
) -> tuple[np.ndarray, str]:
    """N x R x size x size uint8: each face's five NFCS regions (``neopain.scales.nfcs.REGIONS`` order); the source."""
    source = resolve_source(samples, source)
    parts = np.zeros((len(samples), len(REGIONS), size, size), np.uint8)
    if source == "mask":
        for i, sample in enumerate(samples):
            parts[i] = _true_parts(sample, manifest_file, size)
    else:
        crop = read_crop_file(manifest_file) or CropSettings.unrecorded()
        for i, sample in enumerate(samples):
            parts[i] = _placed_parts(sample, crop, size)
    return parts, source


def region_masks(
    samples: Sequence[Sample], manifest_file: str | Path, size: int, source: str = "auto"
) -> tuple[np.ndarray, str]:
    """N x size x size uint8 masks (1 = inside an NFCS region) for the faces of ``samples``; and the source."""
    parts, source = region_parts(samples, manifest_file, size, source)
    masks = parts.any(axis=1).astype(np.uint8)
    empty = [samples[i].path for i in range(len(samples)) if not masks[i].any()]
    if empty:
        raise RegionMaskError(
            f"{manifest_file}: {len(empty)} face(s) have no NFCS region inside the crop (e.g. {empty[0]})"
        )
    return masks, source


def load_region_masks(
    samples: Sequence[Sample], manifest_file: str | Path, size: int, source: str, device: torch.device
) -> tuple[torch.Tensor, str]:
    """The faces' NFCS region masks as an N x 1 x S x S uint8 tensor on ``device``, and their source."""
    masks, source = region_masks(samples, manifest_file, size, source)
    return torch.from_numpy(masks).unsqueeze(1).to(device), source
