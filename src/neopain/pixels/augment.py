"""The paper's augmentation policy, with random parameters drawn per sample, on any device, seeded.

The paper (section II-B2) used TensorFlow/Keras with "rotation angle (30), rescaling (0.15), horizontal
(0.2) and vertical (0.2) offsetting, brightness (0.5 1.1), zoom (0.7 1.5) and horizontal flip" -- the
argument list of Keras' ``ImageDataGenerator``. Keras has no "rescaling" range; the one left over is
``shear_range=0.15``, which we take as the shear. Older Keras versions read it in radians (about
8.6 degrees); later ones in degrees, which would make it negligible; we use radians. Like Keras we draw the x and y zoom independently (a factor above 1 zooms out), fill with the
nearest border pixel, and multiply brightness.

Batched torchvision v2 transforms draw one set of parameters per call; here every sample gets its own
affine matrix and all are applied in one ``affine_grid``/``grid_sample`` call on the batch's device.
Parameters come from a ``torch.Generator`` owned by the augmenter, so a seed fixes the whole sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

AUGMENT_MODES = ("offline", "online", "none")


@dataclass(frozen=True)
class AugmentPolicy:
    rotation_deg: float = 30.0
    shear_rad: float = 0.15
    shift: tuple[float, float] = (0.2, 0.2)  # width, height, as fractions of the image
    brightness: tuple[float, float] = (0.5, 1.1)
    zoom: tuple[float, float] = (0.7, 1.5)
    hflip: bool = True


PAPER_POLICY = AugmentPolicy()


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) * (high - low) + low


@dataclass(frozen=True)
class AugmentParams:
    """One value per sample (CPU tensors of length N)."""

    angle: torch.Tensor  # radians
    shear: torch.Tensor  # radians
    shift_x: torch.Tensor  # fraction of width
    shift_y: torch.Tensor  # fraction of height
    zoom_x: torch.Tensor
    zoom_y: torch.Tensor
    flip: torch.Tensor  # bool
    brightness: torch.Tensor


def draw_params(policy: AugmentPolicy, n: int, gen: torch.Generator) -> AugmentParams:
    rot = math.radians(policy.rotation_deg)
    flip = torch.rand(n, generator=gen) < 0.5 if policy.hflip else torch.zeros(n, dtype=torch.bool)
    return AugmentParams(
        angle=_uniform(gen, n, -rot, rot),
        shear=_uniform(gen, n, -policy.shear_rad, policy.shear_rad),
        shift_x=_uniform(gen, n, -policy.shift[0], policy.shift[0]),
        shift_y=_uniform(gen, n, -policy.shift[1], policy.shift[1]),
        zoom_x=_uniform(gen, n, *policy.zoom),
        zoom_y=_uniform(gen, n, *policy.zoom),
        flip=flip,
        brightness=_uniform(gen, n, *policy.brightness),
    )


def affine_matrices(p: AugmentParams, height: int, width: int) -> torch.Tensor:
    """N x 2 x 3 matrices mapping output to input coordinates, in ``affine_grid``'s normalised units.

    Composed as Keras does, in centred pixel units: rotation @ shift @ shear @ zoom, then the flip.
    """
    n = p.angle.numel()
    eye = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
    rot, shift, shear, zoom, flip = (eye.clone() for _ in range(5))
    cos, sin = torch.cos(p.angle), torch.sin(p.angle)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cos, -sin, sin, cos
    shift[:, 0, 2], shift[:, 1, 2] = p.shift_x * width, p.shift_y * height
    shear[:, 0, 1], shear[:, 1, 1] = -torch.sin(p.shear), torch.cos(p.shear)
    zoom[:, 0, 0], zoom[:, 1, 1] = p.zoom_x, p.zoom_y
    flip[:, 0, 0] = torch.where(p.flip, -1.0, 1.0).double()
    pixel = rot @ shift @ shear @ zoom @ flip
    to_pixels = torch.diag(torch.tensor([width / 2.0, height / 2.0, 1.0], dtype=torch.float64))
    normalised = torch.linalg.inv(to_pixels) @ pixel @ to_pixels
    return normalised[:, :2, :].float()


@lru_cache(maxsize=8)
def _base_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """1 x HW x 3 pixel-centre coordinates (x, y, 1), as ``affine_grid`` with align_corners=False."""
    xs = (torch.arange(width, dtype=torch.float32, device=device) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=torch.float32, device=device) * 2 + 1) / height - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1).view(1, height * width, 3)


def sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid`` with a cached base grid: one batched matmul per step instead of several kernels."""
    base = _base_grid(height, width, theta.device)
    return torch.matmul(base, theta.transpose(1, 2)).view(theta.shape[0], height, width, 2)


@dataclass(frozen=True)
class AugmentPlan:
    """Per-sample warps and gains for a whole epoch, already on the device: a batch is a slice."""

    theta: torch.Tensor  # N x 2 x 3, normalised units
    gain: torch.Tensor  # N x 1 x 1 x 1

    @classmethod
    def from_params(cls, p: AugmentParams, height: int, width: int, device: torch.device | str) -> AugmentPlan:
        theta = affine_matrices(p, height, width).to(device, non_blocking=True)
        gain = p.brightness.float().view(-1, 1, 1, 1).to(device, non_blocking=True)
        return cls(theta, gain)

    def warp(self, images: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Warp ``images`` (any channels, uint8 or float) with entries ``start:start+len`` -> float32."""
        x = images if images.is_floating_point() else images.float()
        n = x.shape[0]
        grid = sampling_grid(self.theta[start : start + n], x.shape[2], x.shape[3])
        # "border" repeats the edge pixel, as Keras' default fill_mode="nearest".
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def apply(self, images: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Warp and brighten ``images`` (uint8 or float, 0-255) with entries ``start:start+len`` -> float32."""
        n = images.shape[0]
        return (self.warp(images, start) * self.gain[start : start + n]).clamp_(0.0, 255.0)


def apply_params(images: torch.Tensor, p: AugmentParams) -> torch.Tensor:
    """Warp and brighten an N x C x H x W batch (uint8 or float, 0-255) -> float32 0-255, same device."""
    return AugmentPlan.from_params(p, images.shape[2], images.shape[3], images.device).apply(images)


class Augmenter:
    """Per-sample random augmentation with its own seeded generator (state saved in checkpoints)."""

    def __init__(self, policy: AugmentPolicy = PAPER_POLICY, seed: int = 0) -> None:
        self.policy = policy
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f"expected N x C x H x W, got shape {tuple(images.shape)}")
        return apply_params(images, draw_params(self.policy, images.shape[0], self.generator))

    def plan(self, n: int, height: int, width: int, device: torch.device | str) -> AugmentPlan:
        """Draw parameters for ``n`` samples at once (one epoch): no per-step host work or copies."""
        return AugmentPlan.from_params(draw_params(self.policy, n, self.generator), height, width, device)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])


def offline_copies(
    images: torch.Tensor, copies: int = 20, seed: int = 0, policy: AugmentPolicy = PAPER_POLICY, chunk: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's offline set: ``copies`` augmented uint8 versions of every face, generated once.

    Returns (augmented images, index of the source face for each), copy-major, on the images' device.
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    augmenter = Augmenter(policy, seed)
    n = images.shape[0]
    out = torch.empty((n * copies, *images.shape[1:]), dtype=torch.uint8, device=images.device)
    for k in range(copies):
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            out[k * n + start : k * n + stop] = augmenter(images[start:stop]).round_().to(torch.uint8)
    source = torch.arange(n, device=images.device).repeat(copies)
    return out, source
