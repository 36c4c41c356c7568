"""The region prior: a training penalty on the share of the decision's attribution outside the NFCS regions.

The attribution is the one the explanations show (Integrated Gradients from the face blurred at a facial
feature's scale, then read at that scale; ``neopain.explain.ig``), estimated in each step from one point of
the path drawn at random ("expected gradients", Erion et al. 2021):
``a = (x - x') * grad f(x' + alpha (x - x'))`` with ``alpha ~ U(0, 1)``, whose mean over alpha is IG.
``f`` is the decision (the pain logit minus the other). The map is summed over channels and blurred as the
explanations read it; the penalty is the share of its absolute mass outside the regions (0 to 1, so one
weight suits any backbone). The gradient of the penalty runs through ``grad f`` (double backpropagation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF

from neopain.faces import FEATURE_SCALE
from neopain.models import PainNet

Autocast = Callable[[], contextlib.AbstractContextManager]  # Runtime.autocast: bf16 on CUDA, nothing on CPU


@dataclass(frozen=True)
class RegionPrior:
    """The batch's NFCS region masks (N x 1 x H x W, 1 inside) and the weight of the prior in the loss."""

    regions: torch.Tensor
    weight: float


def feature_blur(x: torch.Tensor) -> torch.Tensor:
    """Gaussian blur at the feature scale (``FEATURE_SCALE`` of the side), as the explanations' (up to the border)."""
    sigma = FEATURE_SCALE * x.shape[-1]
    size = 2 * int(3 * sigma + 0.5) + 1
    return TF.gaussian_blur(x, [size, size], [sigma, sigma])


def decision(logits: torch.Tensor, pain: int) -> torch.Tensor:
    """The pain logit minus the other one, per image."""
    return logits[:, pain].float() - logits[:, 1 - pain].float()


def path_attribution(model: PainNet, x: torch.Tensor, pain: int, autocast: Autocast) -> torch.Tensor:
    """One-point IG estimate of the decision from the blurred input, summed over channels: N x 1 x H x W.

    The path point runs with BatchNorm in eval mode, so that path images never enter its running statistics.
    ``alpha`` comes from torch's global generator, which training seeds and keeps in its checkpoints.
    """
    baseline = feature_blur(x.detach())
    alpha = torch.rand(x.shape[0], 1, 1, 1, device=x.device)
    point = (baseline + alpha * (x.detach() - baseline)).requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        with autocast():
            logits = model(point)
    finally:
        model.train(was_training)
    (grad,) = torch.autograd.grad(decision(logits, pain).sum(), point, create_graph=True)
    return ((x.detach() - baseline) * grad.float()).sum(1, keepdim=True)


def outside_share(attribution: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the share of the map's absolute mass outside the regions, read at the feature scale."""
    mass = feature_blur(attribution).abs()
    outside = (mass * (1.0 - regions)).flatten(1).sum(1)
    return (outside / (mass.flatten(1).sum(1) + 1e-12)).mean()


def region_penalty(model: PainNet, x: torch.Tensor, prior: RegionPrior, autocast: Autocast) -> torch.Tensor:
    """The prior's term of the loss for a normalised batch ``x``."""
    pain = model.cfg.labels.index("pain")
    return prior.weight * outside_share(path_attribution(model, x, pain, autocast), prior.regions)
