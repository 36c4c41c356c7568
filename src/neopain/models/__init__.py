"""The classifiers: a registry (`create_model(name)`) of backbones with the paper's head, and the frozen
config that travels with the weights. Imports torch; importing it registers every builder.
"""

from __future__ import annotations

from neopain.models import ncnn, tv_models, vggface  # noqa: F401  (builders register themselves)
from neopain.models.normalize import channel_affine, normalize_bgr, normalize_model_order
from neopain.models.painnet import PainNet, build_head
from neopain.models.registry import ModelError, available_models, create_model, register

__all__ = [
    "ModelError",
    "PainNet",
    "available_models",
    "build_head",
    "channel_affine",
    "create_model",
    "normalize_bgr",
    "normalize_model_order",
    "register",
]
