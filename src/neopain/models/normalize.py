"""The torch twin of ``neopain.preprocess.normalize_nhwc``: same numbers, on whatever device the batch is."""

from __future__ import annotations

from functools import lru_cache

import torch

from neopain.preprocess import ModelConfig


@lru_cache(maxsize=16)
def _stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    # Cached so a training step does not copy two tiny tensors host-to-device every time.
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, 3, 1, 1)  # noqa: E731
    return as_tensor(mean), as_tensor(std)


def normalize_bgr(x_bgr: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """BGR N x 3 x H x W (0-255, uint8 or float) -> float32 in the model's channel order, mean/std applied."""
    x = x_bgr.float()
    if cfg.channel_order == "RGB":
        x = x.flip(1)
    mean, std = _stats(cfg.mean, cfg.std, x.device)
    return (x - mean) / std
