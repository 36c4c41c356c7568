"""Reference rows beside the CNNs, on the same splits.

* The trivial baseline: logistic regression on small grey-scale pixels of the face crops. If it comes
  close, the data are too easy to say anything about the CNN (for the synthetic benchmark: the
  generator's defaults must be made harder).
* The NFCS oracle, where every row has an ``nfcs_score`` (the synthetic benchmark, UNIFESP): the true
  facial-action count, fitted to the labels by a one-feature logistic regression. It sees what a perfect
  face reader would see, so its AUC is the ceiling the labels allow (label noise, labels not defined by
  the score); a CNN is judged against it, not against 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neopain.data import Sample, resolve_path
from neopain.pixels.imageio import read_image

BASELINE_NAME = "pixel logistic regression"
ORACLE_NAME = "NFCS oracle (true action count)"
DEFAULT_SIZE = 24
DEFAULT_C = 0.01  # strong L2: 576 correlated pixels and a few hundred images


class BaselineError(ValueError):
    """The baseline cannot be fitted on this split; the message says why."""


def grey_pixels(image_bgr: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """A face crop as a flat float32 vector of size*size grey values in [0, 1]."""
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32).ravel() / 255.0


def pixel_features(
    samples: Sequence[Sample],
    manifest_file: str | Path | None = None,
    size: int = DEFAULT_SIZE,
    progress: Callable[[Iterable[Sample]], Iterable[Sample]] | None = None,
) -> np.ndarray:
    """(n, size*size) features, one row per sample, read once and reused across splits.

    Each row's ``path`` is the face crop (a faces manifest), relative to ``manifest_file``'s folder.
    """
    rows = progress(samples) if progress else samples
    paths = (resolve_path(manifest_file, s.path) if manifest_file else Path(s.path) for s in rows)
    features = [grey_pixels(read_image(path), size) for path in paths]
    return np.stack(features) if features else np.zeros((0, size * size), dtype=np.float32)


def fit_predict(
    features: np.ndarray,
    targets: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    c: float = DEFAULT_C,
    seed: int = 0,
) -> np.ndarray:
    """Fit on ``train`` rows, return the probability of pain for each ``test`` row (in ``test``'s order)."""
    y_train = np.asarray(targets)[train]
    if len(np.unique(y_train)) < 2:
        raise BaselineError(f"the training part ({len(train)} images) holds one class only")
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed)
    )
    model.fit(features[train], y_train)
    pain_column = list(model.classes_).index(1)
    return model.predict_proba(features[test])[:, pain_column]


def nfcs_scores(samples: Sequence[Sample]) -> np.ndarray | None:
    """(n, 1) NFCS scores when every row has one, else None (no oracle for these data)."""
    scores = [s.nfcs_score for s in samples]
    if not scores or any(v is None for v in scores):
        return None
    return np.asarray(scores, dtype=np.float32)[:, None]
