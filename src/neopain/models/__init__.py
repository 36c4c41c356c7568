"""Classifier models: a registry of backbones with the paper's head (imports torch)."""

from __future__ import annotations

from neopain.models import ncnn, tv_models, vggface  # noqa: F401  (builders register themselves)
from neopain.models.normalize import normalize_bgr
from neopain.models.painnet import PainNet, build_head
from neopain.models.registry import ModelError, available_models, create_model, register

__all__ = [
    "ModelError",
    "PainNet",
    "available_models",
    "build_head",
    "create_model",
    "normalize_bgr",
    "register",
]
