"""N-CNN, the Neonatal Convolutional Neural Network of Zamzmi et al. (IJCNN 2019), trained from scratch.

Three branches read the input: the left one only max-pools it (the raw image, coarse), the centre one
is one convolution block, the right one two. Their outputs are merged and pass one more convolution
block before the fully connected head. Layer sizes follow our reading of the paper (64 filters of
5x5 and 2x2, 3x3 pools, 120x120 input); they are not checked against the authors' code. Branch
outputs are pooled to a common grid of input_size // 10, so any input size >= 20 works.
"""

from __future__ import annotations

import torch
from torch import nn

from neopain.models.painnet import PainNet
from neopain.models.registry import ModelError, register
from neopain.pixels.preprocess import HeadConfig, ModelConfig


def _conv_block(cin: int, cout: int, kernel: int, pool: int) -> list[nn.Module]:
    # Odd kernels keep the size; the 2x2 ones lose a pixel ("valid"), which the adaptive pools absorb.
    padding = kernel // 2 if kernel % 2 else 0
    return [nn.Conv2d(cin, cout, kernel, padding=padding), nn.ReLU(inplace=True), nn.MaxPool2d(pool)]


class NCNNBackbone(nn.Module):
    def __init__(self, input_size: int, width: int = 64) -> None:
        super().__init__()
        grid = input_size // 10
        self.left = nn.Sequential(nn.AdaptiveMaxPool2d(grid))
        self.centre = nn.Sequential(*_conv_block(3, width, 5, 3), nn.AdaptiveMaxPool2d(grid))
        self.right = nn.Sequential(
            *_conv_block(3, width, 5, 3), *_conv_block(width, width, 2, 3), nn.AdaptiveMaxPool2d(grid)
        )
        self.merge = nn.Sequential(*_conv_block(3 + 2 * width, width, 2, 2), nn.Dropout(0.1))
        self.feature_dim = width * ((grid - 1) // 2) ** 2  # 2x2 'valid' conv, then 2x2 pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        merged = torch.cat([self.left(x), self.centre(x), self.right(x)], dim=1)
        return self.merge(merged)


@register("ncnn")
def ncnn(*, pretrained: bool, input_size: int | None, head: HeadConfig | None, weights_path: str | None) -> PainNet:
    if weights_path:
        raise ModelError("ncnn is trained from scratch; it has no pretrained weight file")
    size = input_size or 120
    if size < 20:
        raise ModelError(f"ncnn: input size must be >= 20, got {size}")
    backbone = NCNNBackbone(size)
    cfg = ModelConfig(
        name="ncnn",
        input_size=size,
        channel_order="RGB",
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),  # inputs in [0, 1]
        head=head or HeadConfig(units=(8,), dropout=0.1),  # N-CNN's own small head
        weights="none",
        finetune_stages=("left", "centre", "right", "merge"),
        from_scratch=True,
    )
    stages = {name: [name] for name in ("left", "centre", "right", "merge")}
    return PainNet(cfg, backbone, backbone.feature_dim, stages)
