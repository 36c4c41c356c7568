"""The torch twin of ``neopain.pixels.preprocess.normalize_nhwc``: same numbers, on whatever device the batch is."""

from __future__ import annotations

from functools import lru_cache

import torch

from neopain.pixels.preprocess import ModelConfig


@lru_cache(maxsize=16)
def _stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    # Cached so a training step does not copy two tiny tensors host-to-device every time.
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return as_tensor(mean), as_tensor(std)


def channel_affine(cfg: ModelConfig, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), 1 x 3 x 1 x 1 in the model's channel order: normalised = x * scale + shift."""
    mean, std = _stats(cfg.mean, cfg.std, torch.device(device))
    return 1.0 / std, -mean / std


def normalize_model_order(
    x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, channels_last: bool = False
) -> torch.Tensor:
    """One fused kernel (uint8 or float in, float32 out), written channels_last when asked."""
    if not channels_last:
        return torch.addcmul(shift, x, scale)
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device, memory_format=torch.channels_last)
    return torch.addcmul(shift, x, scale, out=out)


def normalize_bgr(x_bgr: torch.Tensor, cfg: ModelConfig, channels_last: bool = False) -> torch.Tensor:
    """BGR N x 3 x H x W (0-255, uint8 or float) -> float32 in the model's channel order, mean/std applied."""
    x = x_bgr.flip(1) if cfg.channel_order == "RGB" else x_bgr
    scale, shift = channel_affine(cfg, x.device)
    return normalize_model_order(x, scale, shift, channels_last)
