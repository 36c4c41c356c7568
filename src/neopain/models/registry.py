"""A small decorator registry: ``@register("name")`` on a builder, ``create_model("name")`` to build."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from neopain.models.painnet import PainNet
from neopain.pixels.preprocess import HeadConfig


class ModelBuilder(Protocol):
    def __call__(
        self,
        *,
        pretrained: bool,
        input_size: int | None,
        head: HeadConfig | None,
        weights_path: str | None,
    ) -> PainNet: ...


MODELS: dict[str, ModelBuilder] = {}


class ModelError(ValueError):
    """A model cannot be built as asked (unknown name, weights missing or of the wrong shape)."""


def register(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in MODELS:
            raise ValueError(f"model '{name}' registered twice")
        MODELS[name] = builder
        return builder

    return decorate


def available_models() -> list[str]:
    return sorted(MODELS)


def create_model(
    name: str,
    pretrained: bool = True,
    input_size: int | None = None,
    head: HeadConfig | dict[str, Any] | None = None,
    weights_path: str | None = None,
) -> PainNet:
    """Build a registered model; ``pretrained=False`` gives random weights (tests, from-scratch runs)."""
    if name not in MODELS:
        raise ModelError(f"unknown model '{name}'; available: {', '.join(available_models())}")
    if isinstance(head, dict):
        head = HeadConfig(**head)
    return MODELS[name](pretrained=pretrained, input_size=input_size, head=head, weights_path=weights_path)
