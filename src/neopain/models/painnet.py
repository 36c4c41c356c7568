"""``PainNet``: a backbone, a flattening step and the paper's fully connected head, with stage freezing."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from neopain.pixels.preprocess import HeadConfig, ModelConfig


def build_head(in_features: int, head: HeadConfig, classes: int = 2) -> nn.Sequential:
    """Flatten, then ``len(head.units)`` x (Linear, ReLU, Dropout), then a ``classes``-way Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for units in head.units:
        layers += [nn.Linear(width, units), nn.ReLU(inplace=True), nn.Dropout(head.dropout)]
        width = units
    layers.append(nn.Linear(width, classes))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            # Keras Dense defaults (the paper's framework): Glorot-uniform kernels, zero biases.
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def _linear_head(in_features: int, outputs: int) -> nn.Sequential:
    """Flatten, then one Linear (Glorot-uniform, zero bias) on the backbone's features."""
    linear = nn.Linear(in_features, outputs)
    nn.init.xavier_uniform_(linear.weight)
    nn.init.zeros_(linear.bias)
    return nn.Sequential(nn.Flatten(), linear)


class PainNet(nn.Module):
    """A classifier whose backbone is split into named stages, so training can unfreeze the last ones.

    ``stages`` maps a stage name (e.g. ``conv4``) to the backbone child-module names it holds
    (e.g. ``conv4_1``); ``cfg.finetune_stages`` names the stages phase 2 unfreezes.
    """

    def __init__(
        self, cfg: ModelConfig, backbone: nn.Module, feature_dim: int, stages: dict[str, list[str]]
    ) -> None:
        super().__init__()
        unknown = [s for s in cfg.finetune_stages if s not in stages]
        if unknown:
            raise ValueError(f"{cfg.name}: finetune stage(s) {unknown} not among {list(stages)}")
        self.cfg = cfg
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.head = build_head(feature_dim, cfg.head, classes=len(cfg.labels))
        self.nfcs_head: nn.Sequential | None = None
        self.visible_head: nn.Sequential | None = None
        self.stages = stages
        if cfg.actions:
            self._build_nfcs_head()
        if cfg.visible:
            self.visible_head = _linear_head(feature_dim, len(cfg.visible))

    def add_nfcs_head(self, actions: tuple[str, ...], version: str) -> PainNet:
        """Add the NFCS outputs: one logit per action and the action count, on the backbone's features."""
        self.cfg = self.cfg.with_(actions=tuple(actions), nfcs_version=version)
        self._build_nfcs_head()
        return self

    def _build_nfcs_head(self) -> None:
        self.nfcs_head = _linear_head(self.feature_dim, len(self.cfg.actions) + 1)

    def add_visible_head(self, regions: tuple[str, ...]) -> PainNet:
        """Add one visibility logit per NFCS region (which regions a mask, a shield or a hand hides)."""
        self.cfg = self.cfg.with_(visible=tuple(regions))
        self.visible_head = _linear_head(self.feature_dim, len(regions))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pain logits (N x 2): what every pain-only consumer (IG, export parity, Table II) reads."""
        return self.head(self.backbone(x))

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(pain logits N x 2, NFCS outputs N x (A + 1): A action logits then the count; None without)."""
        logits, nfcs, _ = self.forward_heads(x)
        return logits, nfcs

    def forward_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``forward_all``'s two, then the regions' visibility logits N x R (None without), one backbone pass."""
        features = self.backbone(x)
        nfcs = None if self.nfcs_head is None else self.nfcs_head(features)
        visible = None if self.visible_head is None else self.visible_head(features)
        return self.head(features), nfcs, visible

    def stage_parameters(self, stage: str) -> Iterator[tuple[str, nn.Parameter]]:
        """(name, parameter) pairs of one backbone stage, names as in ``named_parameters()``."""
        for child in self.stages[stage]:
            module = self.backbone.get_submodule(child)
            for name, param in module.named_parameters():
                yield f"backbone.{child}.{name}", param

    def freeze_backbone(self) -> None:
        """Phase 1: only the head trains (a from-scratch model keeps its backbone trainable)."""
        self.backbone.requires_grad_(self.cfg.from_scratch)
        self.head.requires_grad_(True)
        for extra in (self.nfcs_head, self.visible_head):
            if extra is not None:
                extra.requires_grad_(True)
        self.train(self.training)

    def unfreeze_finetune_stages(self) -> None:
        """Phase 2: the head plus ``cfg.finetune_stages`` train; earlier stages stay frozen."""
        self.freeze_backbone()
        for stage in self.cfg.finetune_stages:
            for _, param in self.stage_parameters(stage):
                param.requires_grad_(True)
        self.train(self.training)

    def freeze_early_stages(self, count: int = 2) -> None:
        """Every layer trains except the first ``count`` backbone stages (generic edges and textures):
        their backward pass, the costliest at full resolution, is never run."""
        if self.cfg.from_scratch:
            raise ValueError(f"{self.cfg.name} trains from scratch: it has no pretrained early stages to keep")
        self.requires_grad_(True)
        for stage in list(self.stages)[:count]:
            for _, param in self.stage_parameters(stage):
                param.requires_grad_(False)
        self.train(self.training)

    def trainable_parameter_names(self) -> list[str]:
        return [name for name, p in self.named_parameters() if p.requires_grad]

    def head_l1_penalty(self) -> torch.Tensor:
        """``head.l1`` x sum of |W| over the head's Linear weights (biases excluded, as Keras kernels)."""
        weights = [m.weight for m in self.head.modules() if isinstance(m, nn.Linear)]
        # One fused |w| sum per layer (vector_norm, ord 1) keeps the step's kernel count low.
        total = torch.stack([torch.linalg.vector_norm(w, 1) for w in weights]).sum()
        return total * self.cfg.head.l1

    def train(self, mode: bool = True) -> PainNet:
        """As nn.Module.train, but BatchNorm layers whose parameters are frozen keep their running stats."""
        super().train(mode)
        if mode:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    params = list(module.parameters(recurse=False))
                    if params and not any(p.requires_grad for p in params):
                        module.eval()
        return self
