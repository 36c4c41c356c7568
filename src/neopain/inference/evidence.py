"""Evidence per NFCS action without torch: how much each action's probability drops when one NFCS region
of the face is blurred away (occlusion, Zeiler & Fergus 2014), in one ONNX Runtime batch of 1 + 5 crops.

The region whose blurring drops an action most is where the model reads that action; on the synthetic
truth that should be the action's own region (``neopain.scales.nfcs.ACTION_REGION``; bench/nfcs_evidence.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from neopain.faces import (
    canonical_landmarks,
    choose_face,
    crop_with,
    occluded,
    place_regions,
    transform_points,
)
from neopain.inference.model import OnnxClassifier
from neopain.scales.nfcs import REGIONS


@dataclass(frozen=True)
class Evidence:
    """Per action: its probability on the whole face and its drop with each region blurred."""

    actions: tuple[str, ...]
    probability: dict[str, float]
    drops: dict[str, dict[str, float]]  # action -> region -> drop in probability (> 0: the region supports it)

    def strongest_region(self, action: str) -> str:
        """The region whose blurring lowers ``action`` most."""
        drops = self.drops[action]
        return max(drops, key=lambda region: drops[region])


def occlusion_evidence(classifier: OnnxClassifier, crop_bgr: np.ndarray, masks: Mapping[str, np.ndarray]) -> Evidence:
    """Occlusion evidence of an NFCS model on one face crop, ``masks`` the regions (crop-sized, bool)."""
    regions = [r for r in REGIONS if r in masks and masks[r].any()]
    batch = [crop_bgr] + [occluded(crop_bgr, masks[r]) for r in regions]
    _, probabilities, _ = classifier.nfcs(batch)  # ModelFileError for a pain-only model
    actions = classifier.config.actions
    whole = {a: float(probabilities[0, j]) for j, a in enumerate(actions)}
    drops = {a: {r: whole[a] - float(probabilities[1 + i, j]) for i, r in enumerate(regions)}
             for j, a in enumerate(actions)}
    return Evidence(tuple(actions), whole, drops)


def evidence_overlay(crop_bgr: np.ndarray, masks: Mapping[str, np.ndarray], evidence: Evidence, action: str,
                     ) -> np.ndarray:
    """The crop with each region tinted by how much it supports ``action`` (red: most), for the record page."""
    drops = evidence.drops[action]
    top = max([d for d in drops.values() if d > 0], default=0.0)
    heat = np.zeros(crop_bgr.shape[:2], np.float32)
    for region, drop in drops.items():
        if top > 0 and drop > 0:
            heat[masks[region]] = drop / top
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (0.55 * heat)[..., None]
    return np.clip(crop_bgr * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FrameEvidence:
    crop: np.ndarray  # the face crop the model read
    masks: dict[str, np.ndarray]  # NFCS regions on it, placed from the detector's landmarks
    evidence: Evidence


def frame_evidence(predictor: Any, image_bgr: np.ndarray) -> FrameEvidence | None:
    """Detect, cut the serving crop and place the regions from the face's landmarks (the canonical layout
    on its box when the detector gives none); None when no face is found."""
    face = choose_face(predictor.detector.detect(image_bgr))
    if face is None:
        return None
    crop, affine = crop_with(image_bgr, face, predictor.crop_settings)
    points = face.landmarks if face.landmarks is not None else canonical_landmarks(face.box)
    layout = place_regions(transform_points(affine, points), crop.shape[0], "detector")
    return FrameEvidence(crop, layout.masks, occlusion_evidence(predictor.classifier, crop, layout.masks))
