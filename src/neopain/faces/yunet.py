"""YuNet through OpenCV's ``cv2.FaceDetectorYN``: the default detector, fast on a small CPU."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from neopain.core.weights import resolve
from neopain.faces.base import Face, FaceDetector


class YuNetDetector(FaceDetector):
    """OpenCV YuNet (2023mar); works on any image size (the input size is set on every call)."""

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        max_side: int | None = 640,
        weights: str | Path | None = None,
    ) -> None:
        super().__init__(max_side=max_side)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.weights_path = resolve("yunet", weights)
        # The input size given here is a placeholder: detect() sets the real one per image.
        self._net = cv2.FaceDetectorYN.create(
            str(self.weights_path), "", (320, 320), score_threshold, nms_threshold, top_k
        )

    @property
    def signature(self) -> str:
        return f"{super().signature},score={self.score_threshold},nms={self.nms_threshold}"

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        height, width = image_bgr.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(image_bgr)
        if rows is None:
            return []
        # Each row: x, y, w, h, 5 landmark (x, y) pairs, score.
        return [Face(*map(float, row[:4]), score=float(row[14]), landmarks=row[4:14]) for row in rows]
