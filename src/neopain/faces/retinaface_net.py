"""The RetinaFace MobileNet-0.25 network in PyTorch, laid out so the original checkpoint loads as is.

Parameter names follow biubug6/Pytorch_Retinaface ("mobile0.25": backbone width 32 channels at
stage 1, FPN/SSH width 64, two anchors per cell). This module imports torch: import it lazily.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FPN_CHANNELS = 64
ANCHORS_PER_CELL = 2


def conv_bn(inp: int, out: int, stride: int = 1, kernel: int = 3, leaky: float | None = 0.0) -> nn.Sequential:
    """Conv (no bias) + BatchNorm, then LeakyReLU unless ``leaky`` is None."""
    layers: list[nn.Module] = [
        nn.Conv2d(inp, out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out),
    ]
    if leaky is not None:
        layers.append(nn.LeakyReLU(negative_slope=leaky, inplace=True))
    return nn.Sequential(*layers)


def conv_dw(inp: int, out: int, stride: int, leaky: float = 0.1) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with BatchNorm and LeakyReLU (indices 0-5)."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(inp, out, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


class MobileNetV1Body(nn.Module):
    """MobileNetV1 x0.25 trunk; returns the stride 8, 16 and 32 feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(3, 8, 2, leaky=0.1),
            conv_dw(8, 16, 1),
            conv_dw(16, 32, 2),
            conv_dw(32, 32, 1),
            conv_dw(32, 64, 2),
            conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *(conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class FPN(nn.Module):
    """Top-down pyramid: 1x1 laterals, nearest upsampling, 3x3 merges."""

    def __init__(
        self, in_channels: tuple[int, int, int], out: int = FPN_CHANNELS, leaky: float = 0.1
    ) -> None:
        super().__init__()
        self.output1 = conv_bn(in_channels[0], out, kernel=1, leaky=leaky)
        self.output2 = conv_bn(in_channels[1], out, kernel=1, leaky=leaky)
        self.output3 = conv_bn(in_channels[2], out, kernel=1, leaky=leaky)
        self.merge1 = conv_bn(out, out, leaky=leaky)
        self.merge2 = conv_bn(out, out, leaky=leaky)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p1, p2, p3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 and 7x7 receptive fields, concatenated."""

    def __init__(self, inp: int, out: int = FPN_CHANNELS, leaky: float = 0.1) -> None:
        super().__init__()
        self.conv3X3 = conv_bn(inp, out // 2, leaky=None)
        self.conv5X5_1 = conv_bn(inp, out // 4, leaky=leaky)
        self.conv5X5_2 = conv_bn(out // 4, out // 4, leaky=None)
        self.conv7X7_2 = conv_bn(out // 4, out // 4, leaky=leaky)
        self.conv7x7_3 = conv_bn(out // 4, out // 4, leaky=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5_in = self.conv5X5_1(x)
        branch7_in = self.conv7X7_2(branch5_in)
        out = torch.cat([self.conv3X3(x), self.conv5X5_2(branch5_in), self.conv7x7_3(branch7_in)], dim=1)
        return F.relu(out)


class Head(nn.Module):
    """A 1x1 conv predicting ``values`` numbers per anchor, flattened to (B, anchors, values)."""

    def __init__(self, values: int, inp: int = FPN_CHANNELS) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(inp, ANCHORS_PER_CELL * values, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


class RetinaFaceNet(nn.Module):
    """Image (B, 3, H, W), BGR minus means -> (box offsets, class probabilities, landmark offsets)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = MobileNetV1Body()
        self.fpn = FPN((64, 128, 256))
        self.ssh1, self.ssh2, self.ssh3 = SSH(FPN_CHANNELS), SSH(FPN_CHANNELS), SSH(FPN_CHANNELS)
        self.ClassHead = nn.ModuleList(Head(2) for _ in range(3))
        self.BboxHead = nn.ModuleList(Head(4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(Head(10) for _ in range(3))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box offsets, class logits, landmark offsets): what training's loss reads."""
        pyramid = self.fpn(self.body(x))
        features = [self.ssh1(pyramid[0]), self.ssh2(pyramid[1]), self.ssh3(pyramid[2])]
        loc = torch.cat([head(f) for head, f in zip(self.BboxHead, features)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, features)], dim=1)
        landms = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features)], dim=1)
        return loc, logits, landms

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loc, logits, landms = self.heads(x)
        return loc, F.softmax(logits, dim=-1), landms


def load_retinaface(path: str) -> RetinaFaceNet:
    """Build the network and load the original checkpoint (a ``module.`` prefix is stripped)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {key.removeprefix("module."): value for key, value in state.items()}
    net = RetinaFaceNet()
    net.load_state_dict(state, strict=True)
    return net.eval()
