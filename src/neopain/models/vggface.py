"""VGG-Face (Parkhi et al. 2015): the VGG16 topology, with loaders for the two files people actually have.

* ``vgg_face_dag.pth`` (Albanie's PyTorch conversion): keys ``conv1_1.weight`` ... ``fc8.bias``.
* ``rcmalli_vggface_tf_notop_vgg16.h5`` (keras-vggface): layer groups ``conv1_1`` ..., kernels HWIO.

Only the convolutional part is used (the paper adds its own head on the flattened conv5 output, as
keras-vggface's ``include_top=False``); fc6-fc8 in a full file are ignored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neopain.models.painnet import PainNet
from neopain.models.registry import ModelError, register
from neopain.pixels.preprocess import VGGFACE_MEAN_BGR, HeadConfig, ModelConfig

# (group, convolutions, output channels) of VGG16.
VGG16_GROUPS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
IGNORED_KEYS = ("fc6.", "fc7.", "fc8.")
LICENCE = "VGG-Face weights: Parkhi et al., Visual Geometry Group, University of Oxford; CC BY-NC 4.0 (non-commercial)"


def conv_names() -> list[str]:
    return [f"conv{g}_{i}" for g, n, _ in VGG16_GROUPS for i in range(1, n + 1)]


def build_vgg16_features() -> nn.Sequential:
    """conv1_1 ... conv5_3 with ReLUs and 2x2 max pools, child names as in the official files."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for group, count, width in VGG16_GROUPS:
        for i in range(1, count + 1):
            layers[f"conv{group}_{i}"] = nn.Conv2d(channels, width, kernel_size=3, padding=1)
            layers[f"relu{group}_{i}"] = nn.ReLU(inplace=True)
            channels = width
        layers[f"pool{group}"] = nn.MaxPool2d(kernel_size=2, stride=2)
    features = nn.Sequential(layers)
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            # As torchvision's VGG: keeps random (unpretrained) features alive through 13 layers.
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return features


def _check_and_load(features: nn.Sequential, found: Mapping[str, torch.Tensor], file: Path) -> None:
    """Copy ``found`` into ``features``; raise ModelError listing every missing or mis-shaped key."""
    expected = features.state_dict()
    missing = sorted(k for k in expected if k not in found)
    misshaped = sorted(
        f"{k} (file {tuple(found[k].shape)}, expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in found and tuple(found[k].shape) != tuple(v.shape)
    )
    unexpected = sorted(k for k in found if k not in expected and not k.startswith(IGNORED_KEYS))
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if misshaped:
        problems.append(f"wrong shapes: {', '.join(misshaped)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:10])}{' ...' if len(unexpected) > 10 else ''}")
    if problems:
        raise ModelError(f"{file}: not a VGG-Face VGG16 weight file; " + "; ".join(problems))
    features.load_state_dict({k: found[k].float() for k in expected}, strict=True)


def load_dag_pth(features: nn.Sequential, file: str | Path) -> None:
    """Load ``vgg_face_dag.pth`` (or any state dict with keys ``conv1_1.weight`` ...)."""
    file = Path(file)
    if not file.is_file():
        raise ModelError(f"{file}: VGG-Face weight file not found")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad pickle
        raise ModelError(f"{file}: cannot read as a PyTorch state dict ({exc})") from exc
    if not isinstance(state, Mapping):
        raise ModelError(f"{file}: expected a state dict, found {type(state).__name__}")
    _check_and_load(features, state, file)


def read_keras_h5(file: str | Path) -> dict[str, torch.Tensor]:
    """Read a Keras 2 weights h5 into torch-layout tensors named ``<layer>.weight`` / ``<layer>.bias``."""
    import h5py  # optional: only needed for Keras files

    file = Path(file)
    if not file.is_file():
        raise ModelError(f"{file}: VGG-Face weight file not found")
    out: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(file, "r") as h5:
            root = h5.get("model_weights", h5)
            layer_names = [n.decode() if isinstance(n, bytes) else n for n in root.attrs.get("layer_names", [])]
            for layer in layer_names:
                group = root[layer]
                weight_names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
                for weight_name in weight_names:
                    array = np.asarray(group[weight_name])
                    kind = weight_name.rsplit("/", 1)[-1].split(":")[0]
                    if kind == "kernel":
                        # Keras stores conv kernels as H x W x in x out; torch wants out x in x H x W.
                        out[f"{layer}.weight"] = torch.from_numpy(
                            array.transpose(3, 2, 0, 1) if array.ndim == 4 else array.T
                        ).contiguous()
                    elif kind == "bias":
                        out[f"{layer}.bias"] = torch.from_numpy(array)
                    else:
                        out[f"{layer}.{kind}"] = torch.from_numpy(array)
    except OSError as exc:
        raise ModelError(f"{file}: cannot read as a Keras h5 weight file ({exc})") from exc
    if not out:
        raise ModelError(f"{file}: no layer weights found (is this a Keras 2 weights file?)")
    return out


def load_keras_h5(features: nn.Sequential, file: str | Path) -> None:
    """Load keras-vggface's ``rcmalli_vggface_tf_notop_vgg16.h5`` (or the full-top variant)."""
    _check_and_load(features, read_keras_h5(file), Path(file))


def load_vggface_weights(features: nn.Sequential, file: str | Path) -> None:
    """Pick the loader by suffix: ``.h5`` for Keras, anything else as a PyTorch state dict."""
    if Path(file).suffix.lower() in (".h5", ".hdf5"):
        load_keras_h5(features, file)
    else:
        load_dag_pth(features, file)


def _default_weights_file() -> Path | None:
    """The first official VGG-Face file in NEOPAIN_MODELS_DIR, if the user has put one there."""
    import os

    from neopain.core.config import get_settings

    folder = os.environ.get("NEOPAIN_MODELS_DIR") or get_settings().models_dir
    if not folder:
        return None
    for name in ("vgg_face_dag.pth", "rcmalli_vggface_tf_notop_vgg16.h5", "rcmalli_vggface_tf_vgg16.h5"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


@register("vggface16")
def vggface16(
    *, pretrained: bool, input_size: int | None, head: HeadConfig | None, weights_path: str | None
) -> PainNet:
    size = input_size or 224
    if size % 32:
        raise ModelError(f"vggface16: input size must be a multiple of 32, got {size}")
    features = build_vgg16_features()
    weights = "none"
    if pretrained:
        file = Path(weights_path) if weights_path else _default_weights_file()
        if file is None:
            raise ModelError(
                "vggface16: pretrained weights asked for but none found; download vgg_face_dag.pth "
                "(https://www.robots.ox.ac.uk/~albanie/pytorch-models.html) or keras-vggface's "
                "rcmalli_vggface_tf_notop_vgg16.h5 into NEOPAIN_MODELS_DIR or pass weights_path "
                "(or use pretrained=False)"
            )
        load_vggface_weights(features, file)
        weights = file.name
    cfg = ModelConfig(
        name="vggface16",
        input_size=size,
        channel_order="BGR",
        mean=VGGFACE_MEAN_BGR,
        std=(1.0, 1.0, 1.0),
        head=head or HeadConfig(),
        weights=weights,
        licence=LICENCE if pretrained else "",
        finetune_stages=("conv4", "conv5"),
    )
    stages = {f"conv{g}": [f"conv{g}_{i}" for i in range(1, n + 1)] for g, n, _ in VGG16_GROUPS}
    return PainNet(cfg, features, 512 * (size // 32) ** 2, stages)
