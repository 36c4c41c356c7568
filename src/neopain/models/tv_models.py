"""ImageNet backbones from torchvision (MobileNetV2, ResNet-18), weights through its weights API.

Offline, torchvision finds its files under ``$TORCH_HOME/hub/checkpoints``; we check the file is there
first so a missing one gives a clear error instead of a failed download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from neopain.models.painnet import PainNet
from neopain.models.registry import ModelError, register
from neopain.pixels.preprocess import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, HeadConfig, ModelConfig

TORCHVISION_LICENCE = "torchvision ImageNet weights, BSD-3-Clause (trained on ImageNet: research use terms)"


def _weights_on_disk(model: str, weights: Any, weights_path: str | None) -> dict[str, torch.Tensor]:
    """State dict of a torchvision weights enum, read from an explicit file or the torch hub cache."""
    filename = Path(weights.url).name
    if weights_path:
        file = Path(weights_path)
    else:
        file = Path(torch.hub.get_dir()) / "checkpoints" / filename
    from neopain.core.config import get_settings

    allow = get_settings().allow_download
    if not file.is_file():
        if not allow or weights_path:
            raise ModelError(
                f"{model}: ImageNet weights {weights} not found at {file}; place {filename} there "
                f"(set TORCH_HOME), or use pretrained=False"
            )
        try:
            return weights.get_state_dict(progress=False)
        except OSError as exc:  # offline: name the file the user can place instead
            raise ModelError(
                f"{model}: cannot download ImageNet weights {weights} ({exc}); place {filename} at {file} "
                f"(set TORCH_HOME), or use pretrained=False"
            ) from exc
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{file}: cannot read torchvision weights ({exc})") from exc


def _imagenet_cfg(name: str, size: int, head: HeadConfig | None, weights: str, stages: tuple[str, ...]) -> ModelConfig:
    return ModelConfig(
        name=name,
        input_size=size,
        channel_order="RGB",
        mean=IMAGENET_MEAN_RGB,
        std=IMAGENET_STD_RGB,
        head=head or HeadConfig(),
        weights=weights,
        licence=TORCHVISION_LICENCE if weights != "none" else "",
        finetune_stages=stages,
    )


# MobileNetV2 ``features`` indices grouped by output stride (2, 4, 8, 16, 32), like VGG's five groups.
MOBILENET_STAGES = {"stage1": range(2), "stage2": range(2, 4), "stage3": range(4, 7),
                    "stage4": range(7, 14), "stage5": range(14, 19)}


@register("mobilenet_v2")
def mobilenet_v2(
    *, pretrained: bool, input_size: int | None, head: HeadConfig | None, weights_path: str | None
) -> PainNet:
    from torchvision.models import MobileNet_V2_Weights
    from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

    net = tv_mobilenet_v2(weights=None)
    weights = "none"
    if pretrained:
        enum = MobileNet_V2_Weights.IMAGENET1K_V1
        net.load_state_dict(_weights_on_disk("mobilenet_v2", enum, weights_path))
        weights = f"torchvision {enum}"
    backbone = nn.Sequential(OrderedBackbone(net.features), nn.AdaptiveAvgPool2d(1))
    stages = {name: [f"0.features.{i}" for i in idx] for name, idx in MOBILENET_STAGES.items()}
    cfg = _imagenet_cfg("mobilenet_v2", input_size or 224, head, weights, ("stage4", "stage5"))
    return PainNet(cfg, backbone, net.last_channel, stages)


class OrderedBackbone(nn.Module):
    """Wraps a feature extractor under the child name ``features`` (stable parameter names)."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register("resnet18")
def resnet18(
    *, pretrained: bool, input_size: int | None, head: HeadConfig | None, weights_path: str | None
) -> PainNet:
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None)
    weights = "none"
    if pretrained:
        enum = ResNet18_Weights.IMAGENET1K_V1
        net.load_state_dict(_weights_on_disk("resnet18", enum, weights_path))
        weights = f"torchvision {enum}"
    net.fc = nn.Identity()  # type: ignore[assignment]
    stages = {"stem": ["conv1", "bn1"], "layer1": ["layer1"], "layer2": ["layer2"],
              "layer3": ["layer3"], "layer4": ["layer4"]}
    cfg = _imagenet_cfg("resnet18", input_size or 224, head, weights, ("layer3", "layer4"))
    return PainNet(cfg, net, 512, stages)
