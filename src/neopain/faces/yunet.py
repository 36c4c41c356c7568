"""YuNet through OpenCV's ``cv2.FaceDetectorYN``: the default detector, fast on a small CPU."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from neopain.core.weights import resolve
from neopain.faces.base import Face, FaceDetector

# OpenCV pads YuNet's input up to a multiple of 32 and re-plans the network whenever that padded shape
# changes (about 2.4 ms on a 2-core CPU, as much as a 160 px look itself). The rolls of a search alternate
# landscape and portrait and the follow window changes size, so one network is kept per padded shape.
PAD = 32
NETS_KEPT = 16


def padded_shape(width: int, height: int) -> tuple[int, int]:
    """The (width, height) OpenCV's YuNet runs its network at for an image of this size."""
    return -(-width // PAD) * PAD, -(-height // PAD) * PAD


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
        self.top_k = top_k
        self._nets: OrderedDict[tuple[int, int], cv2.FaceDetectorYN] = OrderedDict()
        self._nets[padded_shape(320, 320)] = self._new_net()  # a bad weights file fails here, not later

    @property
    def signature(self) -> str:
        return f"{super().signature},score={self.score_threshold},nms={self.nms_threshold}"

    def _new_net(self) -> cv2.FaceDetectorYN:
        # The input size given here is a placeholder: _net_for() sets the real one per image.
        return cv2.FaceDetectorYN.create(
            str(self.weights_path), "", (320, 320), self.score_threshold, self.nms_threshold, self.top_k
        )

    def _net_for(self, width: int, height: int) -> cv2.FaceDetectorYN:
        """The network kept for this image's padded shape (least recently used ones dropped)."""
        key = padded_shape(width, height)
        net = self._nets.pop(key, None) or self._new_net()
        self._nets[key] = net
        while len(self._nets) > NETS_KEPT:
            self._nets.popitem(last=False)
        net.setInputSize((width, height))
        return net

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        height, width = image_bgr.shape[:2]
        _, rows = self._net_for(width, height).detect(image_bgr)
        if rows is None:
            return []
        # Each row: x, y, w, h, 5 landmark (x, y) pairs, score.
        return [Face(*map(float, row[:4]), score=float(row[14]), landmarks=row[4:14]) for row in rows]
