"""Integrated Gradients on face crops, as the paper's section III-B, with a completeness check (captum).

The attribution is taken with respect to the face crop as the model sees it: a BGR image of 0-255
values at the model's input size, *before* the model's channel reordering and mean/std normalisation
(those are part of the differentiated function). So the default black baseline is a black image, as in
the paper, whatever the model's normalisation.

Completeness (Sundararajan et al. 2017): the attributions sum to f(x) - f(baseline). captum's
Gauss-Legendre rule approximates the path integral; when the relative gap
``|sum - (f(x) - f(b))| / max(|f(x) - f(b)|, gap_floor)`` exceeds ``tolerance`` the steps are doubled,
up to ``max_steps``, for the images that still miss it. ``f`` is the target class *probability* by
default (the paper's wording: "how much it adds or subtracts to the model's overall output class
probability"), or the target logit with ``output="logit"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np
import torch
from torch import nn

from neopain.faces import FEATURE_SCALE
from neopain.models import normalize_bgr
from neopain.pixels.preprocess import ModelConfig, resize_face

__all__ = [
    "BASELINES",
    "OUTPUTS",
    "Attribution",
    "BgrModel",
    "IGSettings",
    "explain_crops",
    "make_baseline",
    "positive_map",
    "target_index",
]

BASELINES = ("black", "blur", "noise")
OUTPUTS = ("probability", "logit")


@dataclass(frozen=True)
class IGSettings:
    """How Integrated Gradients runs; the defaults follow the paper (black baseline, 50 steps)."""

    baseline: str = "black"
    n_steps: int = 50
    max_steps: int = 800
    tolerance: float = 0.05  # the most relative completeness gap accepted
    output: str = "probability"
    gap_floor: float | None = None  # denominator floor; None: 0.01 for probability, 0.1 for logit
    internal_batch_size: int = 64  # interpolated images per forward/backward pass: bounds memory
    seed: int = 0  # the noise baseline's seed
    # Gaussian sigma, as a fraction of the crop side, applied to the signed map before its positive part
    # is taken (pictures and region scores): 0 keeps the pixel map. See docs/EXPLAIN.md, "Scale".
    smooth: float = FEATURE_SCALE
    target: int | str | None = (
        None  # class index or label to explain; None or "predicted": the predicted class
    )

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got '{self.baseline}'")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got '{self.output}'")
        if not 1 <= self.n_steps <= self.max_steps:
            raise ValueError(f"need 1 <= n_steps <= max_steps, got {self.n_steps} and {self.max_steps}")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"tolerance must be in (0, 1), got {self.tolerance}")
        if self.internal_batch_size < 1:
            raise ValueError("internal_batch_size must be >= 1")
        if not 0 <= self.smooth < 0.5:
            raise ValueError(f"smooth must be in [0, 0.5), a fraction of the crop side, got {self.smooth}")

    @property
    def floor(self) -> float:
        if self.gap_floor is not None:
            return self.gap_floor
        return 0.01 if self.output == "probability" else 0.1


@dataclass
class Attribution:
    """Integrated Gradients of one crop for one class."""

    crop: np.ndarray  # the BGR uint8 crop explained, at the model's input size
    attribution: np.ndarray  # H x W x 3 float32, BGR channel order, in units of the explained output
    target: int  # class explained
    target_label: str
    predicted: int
    probabilities: tuple[float, ...]
    output: str  # "probability" or "logit": what f is
    f_input: float
    f_baseline: float
    steps: int
    gap: float  # relative completeness gap at ``steps``
    converged: bool  # gap <= tolerance
    attempts: list[tuple[int, float]] = field(default_factory=list)  # (steps, gap) of every pass
    smooth: float = 0.0  # IGSettings.smooth: the scale of ``positive``

    @cached_property
    def positive(self) -> np.ndarray:
        """The map that pictures and region scores use: ``positive_map`` at the run's scale (computed once)."""
        return positive_map(self.attribution, self.smooth)

    @property
    def total(self) -> float:
        return float(self.attribution.sum())

    @property
    def probability(self) -> float:
        """Probability of the predicted class."""
        return self.probabilities[self.predicted]


class BgrModel(nn.Module):
    """The classifier as a function of the BGR 0-255 crop: normalisation inside, softmax or logits out."""

    def __init__(self, model: nn.Module, cfg: ModelConfig, output: str = "probability") -> None:
        super().__init__()
        self.model, self.cfg, self.output = model, cfg, output

    def forward(self, x_bgr: torch.Tensor) -> torch.Tensor:
        logits = self.model(normalize_bgr(x_bgr, self.cfg))
        return logits.softmax(dim=1) if self.output == "probability" else logits


def positive_map(attribution: np.ndarray, smooth: float = 0.0) -> np.ndarray:
    """H x W: the attribution summed over channels, negative evidence set to zero (captum's 'positive').

    With ``smooth`` > 0 the signed map is first blurred (sigma = smooth x side): opposite-signed speckle,
    such as sensor noise times a gradient, cancels within a facial feature's width instead of adding its
    positive half to the score. The blur keeps the map's sum (up to the border), so completeness holds.
    """
    signed = attribution.sum(axis=-1).astype(np.float32)
    if smooth > 0:
        sigma = smooth * signed.shape[0]
        signed = cv2.GaussianBlur(signed, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    return np.clip(signed, 0.0, None)


def make_baseline(crop_bgr: np.ndarray, kind: str, seed: int = 0, index: int = 0) -> np.ndarray:
    """The reference image for one crop: black, the crop blurred, or uniform noise seeded by (seed, index)."""
    if kind == "black":
        return np.zeros(crop_bgr.shape, np.float32)
    if kind == "blur":
        sigma = FEATURE_SCALE * crop_bgr.shape[0]
        return cv2.GaussianBlur(
            crop_bgr.astype(np.float32), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT
        )
    if kind == "noise":
        rng = np.random.default_rng([seed, index])
        return rng.uniform(0.0, 255.0, crop_bgr.shape).astype(np.float32)
    raise ValueError(f"baseline must be one of {BASELINES}, got '{kind}'")


def target_index(target: int | str | None, cfg: ModelConfig) -> int | None:
    """The class index to explain: None for the predicted class, else an index or a label of ``cfg``."""
    if target is None or target == "predicted":
        return None
    if isinstance(target, str):
        if target not in cfg.labels:
            raise ValueError(f"target must be 'predicted' or one of {list(cfg.labels)}, got '{target}'")
        return cfg.labels.index(target)
    if not 0 <= target < len(cfg.labels):
        raise ValueError(f"target index {target} is not a class of {list(cfg.labels)}")
    return int(target)


def _to_tensor(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.stack(images).astype(np.float32)).permute(0, 3, 1, 2).contiguous().to(device)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def explain_crops(
    model: nn.Module,
    cfg: ModelConfig,
    crops_bgr: Sequence[np.ndarray],
    settings: IGSettings | None = None,
    indices: Sequence[int] | None = None,
) -> list[Attribution]:
    """Integrated Gradients of each BGR uint8 crop (resized to the model's input size).

    ``indices`` number the crops within a run (the noise baseline of crop i depends on (seed, i) only,
    so results do not depend on how a folder is batched). Memory is bounded by the crops given and
    ``settings.internal_batch_size``: call this on chunks of a folder.
    """
    from captum.attr import IntegratedGradients

    settings = settings or IGSettings()
    if not crops_bgr:
        return []
    indices = list(indices) if indices is not None else list(range(len(crops_bgr)))
    crops = [resize_face(np.asarray(c, np.uint8), cfg.input_size) for c in crops_bgr]
    model.eval()
    device = _model_device(model)
    forward = BgrModel(model, cfg, settings.output).eval()
    x = _to_tensor(crops, device)
    base = _to_tensor(
        [make_baseline(c, settings.baseline, settings.seed, i) for c, i in zip(crops, indices)], device
    )
    with torch.no_grad():
        probs = BgrModel(model, cfg, "probability")(x).double().cpu()
        predicted = probs.argmax(dim=1)
        fixed = target_index(settings.target, cfg)
        targets = predicted.clone() if fixed is None else torch.full_like(predicted, fixed)
        rows = torch.arange(len(crops))
        f_in = forward(x).double().cpu()[rows, targets]
        f_base = forward(base).double().cpu()[rows, targets]
    expected = f_in - f_base
    denominators = expected.abs().clamp_min(settings.floor)

    ig = IntegratedGradients(forward)
    results: list[np.ndarray | None] = [None] * len(crops)
    gaps, steps_used = [float("nan")] * len(crops), [0] * len(crops)
    attempts: list[list[tuple[int, float]]] = [[] for _ in crops]
    pending, steps = list(range(len(crops))), settings.n_steps
    while pending:
        sel = torch.tensor(pending)
        attr, delta = ig.attribute(
            x[sel.to(device)],
            baselines=base[sel.to(device)],
            target=targets[sel].tolist(),
            n_steps=steps,
            internal_batch_size=max(settings.internal_batch_size, len(pending)),
            return_convergence_delta=True,
        )
        gap = (delta.detach().double().cpu().abs() / denominators[sel]).tolist()
        attr_np = attr.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
        still = []
        for k, i in enumerate(pending):
            results[i], gaps[i], steps_used[i] = attr_np[k], gap[k], steps
            attempts[i].append((steps, gap[k]))
            if gap[k] > settings.tolerance and steps < settings.max_steps:
                still.append(i)
        pending, steps = still, min(steps * 2, settings.max_steps)

    labels = cfg.labels
    out = []
    for i, crop in enumerate(crops):
        target = int(targets[i])
        out.append(
            Attribution(
                crop=crop,
                attribution=results[i],  # type: ignore[arg-type]
                target=target,
                target_label=labels[target],
                predicted=int(predicted[i]),
                probabilities=tuple(float(p) for p in probs[i]),
                output=settings.output,
                f_input=float(f_in[i]),
                f_baseline=float(f_base[i]),
                steps=steps_used[i],
                gap=gaps[i],
                converged=gaps[i] <= settings.tolerance,
                attempts=attempts[i],
                smooth=settings.smooth,
            )
        )
    return out
