"""The one preprocessing contract between training, export and serving (numpy + OpenCV, no torch).

A ``ModelConfig`` travels inside every checkpoint (and, later, every ONNX file). ``preprocess_batch``
turns BGR uint8 face crops into the float32 NCHW tensor the classifier expects; the training code's
torch path (``neopain.models.normalize``) must give the same numbers, and a test checks it does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from neopain.scales.nfcs import LABELS, REGIONS, NfcsError, check_action, nfcs_version

CHANNEL_ORDERS = ("RGB", "BGR")

# VGG-Face (Parkhi et al.) mean in BGR order, 0-255 units; no std scaling.
VGGFACE_MEAN_BGR = (93.5940, 104.7624, 129.1863)
# torchvision's ImageNet statistics, RGB order, expressed in 0-255 units.
IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


class ConfigError(ValueError):
    """A model configuration is inconsistent or cannot be read."""


@dataclass(frozen=True)
class HeadConfig:
    """The classifier head: one hidden Linear+ReLU+Dropout per entry of ``units``, then a 2-way output."""

    units: tuple[int, ...] = (512, 512)
    dropout: float = 0.5
    l1: float = 5e-4  # L1 penalty on the head's Linear weights (the paper's Keras kernel regulariser)

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        if any(u <= 0 for u in self.units):
            raise ConfigError(f"head units must be positive, got {self.units}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head dropout must be in [0, 1), got {self.dropout}")
        if self.l1 < 0:
            raise ConfigError(f"head l1 must be >= 0, got {self.l1}")

    @property
    def layers(self) -> int:
        return len(self.units)


@dataclass(frozen=True)
class ModelConfig:
    """Everything a later stage needs to feed the model and read its output."""

    name: str
    input_size: int
    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 0-255 units, in ``channel_order``
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)  # 0-255 units, in ``channel_order``
    labels: tuple[str, ...] = LABELS
    head: HeadConfig = field(default_factory=HeadConfig)
    weights: str = "none"  # where the backbone weights came from (file name, torchvision enum, none)
    licence: str = ""
    finetune_stages: tuple[str, ...] = ()
    from_scratch: bool = False  # True: the backbone trains in phase 1 too (no pretrained features)
    # NFCS outputs beside P(pain): one sigmoid per action (in neopain.scales.nfcs.ACTIONS order) and an action
    # count; empty = a pain-only model. ``nfcs_version`` names the version whose rule makes the score.
    actions: tuple[str, ...] = ()
    nfcs_version: str = ""
    # The NFCS regions (``neopain.scales.nfcs.REGIONS`` order) whose visibility the model reads, one sigmoid each:
    # the ward's gate asks it which regions a mask, a shield or a hand hides. Empty: no such output.
    visible: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "finetune_stages", tuple(self.finetune_stages))
        object.__setattr__(self, "actions", tuple(self.actions))
        object.__setattr__(self, "visible", tuple(self.visible))
        self._check_nfcs()
        self._check_visible()
        if isinstance(self.head, Mapping):
            object.__setattr__(self, "head", HeadConfig(**self.head))
        if self.channel_order not in CHANNEL_ORDERS:
            raise ConfigError(f"channel_order must be one of {CHANNEL_ORDERS}, got '{self.channel_order}'")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConfigError(f"mean and std need 3 values, got {self.mean} and {self.std}")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"std values must be positive, got {self.std}")
        if self.input_size < 16:
            raise ConfigError(f"input_size must be >= 16, got {self.input_size}")
        if len(self.labels) != 2 or len(set(self.labels)) != 2:
            raise ConfigError(f"labels must be two distinct names, got {self.labels}")

    def _check_nfcs(self) -> None:
        try:
            for action in self.actions:
                check_action(action)
            if self.actions:
                nfcs_version(self.nfcs_version)
        except NfcsError as exc:
            raise ConfigError(str(exc)) from None
        if len(set(self.actions)) != len(self.actions):
            raise ConfigError(f"actions must be distinct, got {self.actions}")
        if self.nfcs_version and not self.actions:
            raise ConfigError("nfcs_version is set but the model has no action outputs")

    def _check_visible(self) -> None:
        unknown = [r for r in self.visible if r not in REGIONS]
        if unknown:
            raise ConfigError(f"visible: unknown region(s) {unknown}; known: {', '.join(REGIONS)}")
        if len(set(self.visible)) != len(self.visible):
            raise ConfigError(f"visible regions must be distinct, got {self.visible}")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The model's outputs, in order: pain logits, then (NFCS models) action probabilities and count,
        then (models that read the regions' visibility) P(visible) per region."""
        nfcs = ("actions", "nfcs_count") if self.actions else ()
        return ("logits", *nfcs, *(("visible",) if self.visible else ()))

    def with_(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # JSON has no tuples; lists read back into tuples in from_dict.
        data["head"]["units"] = list(self.head.units)
        for key in ("mean", "std", "labels", "finetune_stages", "actions", "visible"):
            data[key] = list(data[key])
        if not self.visible:
            del data["visible"]  # the configs of models without the output keep their bytes
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config field(s): {', '.join(unknown)}")
        if "name" not in data or "input_size" not in data:
            raise ConfigError("a model config needs at least 'name' and 'input_size'")
        values = dict(data)
        if "head" in values and not isinstance(values["head"], HeadConfig):
            values["head"] = HeadConfig(**values["head"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config is not valid JSON ({exc})") from exc
        return cls.from_dict(data)


def resize_face(image_bgr: np.ndarray, size: int) -> np.ndarray:
    """Resize a BGR uint8 crop to ``size`` x ``size`` (area filter when shrinking, bilinear when growing)."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {image_bgr.shape}")
    import cv2  # imported here so the torch-side tools (benchmarks) need no OpenCV

    h, w = image_bgr.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(image_bgr)
    shrinking = h > size or w > size
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image_bgr, (size, size), interpolation=interp)


def _as_image_list(images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            raise ValueError("preprocess_batch takes a list of images or an N x H x W x 3 array, not one image")
        if images.ndim != 4:
            raise ValueError(f"expected N x H x W x 3, got shape {images.shape}")
        return list(images)
    return list(images)


def normalize_nhwc(batch_bgr: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """BGR N x H x W x 3 (uint8 or float, 0-255) -> float32 NCHW in the model's channel order, mean/std."""
    if batch_bgr.dtype == np.uint8:
        return _normalize_by_table(batch_bgr, cfg)
    x = batch_bgr.astype(np.float32)
    if cfg.channel_order == "RGB":
        x = x[..., ::-1]
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _normalize_by_table(batch_bgr: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """``normalize_nhwc`` of uint8 pixels by a 256-entry table per channel: the same float32 arithmetic on
    each of the 256 values, so the same bits, in a quarter of the time (0.7 -> 0.17 ms per 224 px crop)."""
    mean, std = np.asarray(cfg.mean, np.float32), np.asarray(cfg.std, np.float32)
    values = np.arange(256, dtype=np.float32)
    n, h, w, _ = batch_bgr.shape
    out = np.empty((n, 3, h, w), np.float32)
    for channel in range(3):
        source = 2 - channel if cfg.channel_order == "RGB" else channel
        np.take((values - mean[channel]) / std[channel], batch_bgr[..., source], out=out[:, channel])
    return out


def preprocess_batch(images_bgr_uint8: Sequence[np.ndarray] | np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """BGR uint8 face crops (a list or N x H x W x 3) -> float32 N x 3 x S x S ready for the classifier."""
    images = _as_image_list(images_bgr_uint8)
    if not images:
        return np.zeros((0, 3, cfg.input_size, cfg.input_size), np.float32)
    for i, image in enumerate(images):
        if image.dtype != np.uint8:
            raise ValueError(f"image {i}: expected uint8, got {image.dtype}")
    batch = np.stack([resize_face(image, cfg.input_size) for image in images])
    return normalize_nhwc(batch, cfg)
