"""RetinaFace pre- and post-processing in numpy, shared by the torch and ONNX Runtime backends.

The configuration is the original Pytorch_Retinaface "mobile0.25" one: anchors of
``MIN_SIZES`` on feature maps of stride ``STEPS``, offsets scaled by ``VARIANCE``, priors not clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil

import numpy as np

from neopain.faces.base import Face

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCE = (0.1, 0.2)
MEAN_BGR = np.array((104.0, 117.0, 123.0), dtype=np.float32)


@dataclass(frozen=True)
class PostprocessParams:
    """Thresholds as in the original detect.py, except the final score threshold (vis_thres there)."""

    score_threshold: float = 0.6
    nms_threshold: float = 0.4
    top_k: int = 5000
    keep_top_k: int = 750


def preprocess(image_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> float32 (1, 3, H, W) minus the BGR means, as the original network expects."""
    chw = (image_bgr.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)
    return np.ascontiguousarray(chw[None])


@lru_cache(maxsize=16)
def make_priors(height: int, width: int) -> np.ndarray:
    """Anchors (cx, cy, w, h), relative to the image size, in the network's output order."""
    blocks = []
    for min_sizes, step in zip(MIN_SIZES, STEPS):
        rows, cols = ceil(height / step), ceil(width / step)
        cy, cx = np.meshgrid(
            (np.arange(rows) + 0.5) * step / height, (np.arange(cols) + 0.5) * step / width, indexing="ij"
        )
        # For each cell, one anchor per min size, cell-major (the head's channel layout).
        per_size = [
            np.stack([cx, cy, np.full_like(cx, s / width), np.full_like(cy, s / height)], axis=-1)
            for s in min_sizes
        ]
        blocks.append(np.stack(per_size, axis=2).reshape(-1, 4))
    priors = np.concatenate(blocks).astype(np.float32)
    priors.setflags(write=False)
    return priors


def decode_boxes(loc: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Box offsets (N, 4) -> corners (x1, y1, x2, y2), relative to the image size."""
    centers = priors[:, :2] + loc[:, :2] * VARIANCE[0] * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
    return np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)


def decode_landmarks(pre: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Landmark offsets (N, 10) -> points (N, 5, 2), relative to the image size."""
    offsets = pre.reshape(-1, 5, 2)
    return priors[:, None, :2] + offsets * VARIANCE[0] * priors[:, None, 2:]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression on corner boxes; indices kept, best score first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)  # +1 as the original py_cpu_nms, in pixels
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def postprocess(
    loc: np.ndarray,
    conf: np.ndarray,
    landms: np.ndarray,
    height: int,
    width: int,
    params: PostprocessParams = PostprocessParams(),
) -> list[Face]:
    """Network outputs for one image (N, 4), (N, 2) softmaxed, (N, 10) -> faces in pixels."""
    priors = make_priors(height, width)
    if loc.shape[0] != priors.shape[0]:
        raise ValueError(
            f"network gave {loc.shape[0]} anchors, priors for {width}x{height} are {len(priors)}"
        )
    scale = np.array([width, height], dtype=np.float32)
    scores = conf[:, 1]
    candidates = np.flatnonzero(scores > params.score_threshold)
    candidates = candidates[np.argsort(scores[candidates])[::-1][: params.top_k]]
    boxes = decode_boxes(loc[candidates], priors[candidates]) * np.tile(scale, 2)
    points = decode_landmarks(landms[candidates], priors[candidates]) * scale
    keep = nms(boxes, scores[candidates], params.nms_threshold)[: params.keep_top_k]
    return [_face(boxes[i], float(scores[candidates][i]), points[i]) for i in keep]


def _face(corners: np.ndarray, score: float, points: np.ndarray) -> Face:
    x1, y1, x2, y2 = (float(v) for v in corners)
    return Face(x1, y1, x2 - x1, y2 - y1, score, points)
