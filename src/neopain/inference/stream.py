"""Consecutive camera frames: the predictor plus optional temporal smoothing of P(pain).

An exponential moving average steadies the bedside display against frame-to-frame noise. It restarts
whenever the face is lost (any "no assessment" frame) or jumps (the new box barely overlaps the last),
so one baby's score never leaks into another's or across a gap.
"""

from __future__ import annotations

import numpy as np

from neopain.faces import box_iou
from neopain.inference.predictor import Assessment, Predictor


class StreamPredictor:
    """``assess(frame)`` per frame; ``alpha`` is the weight of the newest frame (1 or None: no smoothing)."""

    def __init__(self, predictor: Predictor, alpha: float | None = 0.5, min_iou: float = 0.3) -> None:
        if alpha is not None and not 0.0 < alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be in (0, 1], got {alpha}")
        self.predictor = predictor
        self.alpha = alpha
        self.min_iou = min_iou
        self._smoothed: float | None = None
        self._last_box: tuple[float, float, float, float] | None = None
        self.frames = 0

    def reset(self) -> None:
        self._smoothed = None
        self._last_box = None

    def assess(self, image_bgr: np.ndarray) -> Assessment:
        return self._smooth(self.predictor.assess(image_bgr))

    def assess_bytes(self, data: bytes, name: str = "<frame>") -> Assessment:
        return self._smooth(self.predictor.assess_bytes(data, name))

    def _face_jumped(self, box: tuple[float, float, float, float] | None) -> bool:
        return self._last_box is not None and box is not None and box_iou(self._last_box, box) < self.min_iou

    def _smooth(self, result: Assessment) -> Assessment:
        self.frames += 1
        if not result.ok or result.probability is None:
            self.reset()
            return result
        if self._face_jumped(result.box):
            self.reset()
        raw = result.probability
        if self.alpha is None or self._smoothed is None:
            self._smoothed = raw
        else:
            self._smoothed = self.alpha * raw + (1.0 - self.alpha) * self._smoothed
        self._last_box = result.box
        smoothed = result.with_probability(self._smoothed, self.predictor.config.labels, self.predictor.threshold)
        smoothed.raw_probability = raw
        return smoothed
