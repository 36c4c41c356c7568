"""Video segments: frames cut from one labelled segment (iCOPEvid's 20-s clips, a videos CSV's rows) are
scored together, P(pain) averaged over the segment's frames, beside the per-frame figures."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from neopain.data import Sample
from neopain.evaluate.metrics import roc_auc


def segment_key(sample: Sample) -> tuple[str, float | None, float | None] | None:
    """The segment a frame was cut from (its video and segment bounds); None for a still image."""
    if sample.t is None:
        return None
    return (sample.source_path or sample.path, sample.start, sample.end)


def segment_metrics(samples: Sequence[Sample], y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """``segment_roc_auc`` and ``segments`` over the frames of video segments; {} when none is a frame.

    The splits are by subject, so a segment's frames never straddle train and test; the segment's label is
    its frames' label (they share it by construction: ``faces extract`` copies the segment's).
    """
    groups: dict[tuple, list[int]] = {}
    for i, sample in enumerate(samples):
        key = segment_key(sample)
        if key is not None:
            groups.setdefault(key, []).append(i)
    if not groups:
        return {}
    labels = np.array([y[rows[0]] for rows in groups.values()])
    mean_p = np.array([float(np.mean(p[rows])) for rows in groups.values()])
    auc = roc_auc(labels, mean_p) if 0 < labels.sum() < len(labels) else math.nan
    return {"segment_roc_auc": auc, "segments": float(len(groups))}
