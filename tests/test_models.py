"""The model registry, stage freezing, the head, and the VGG-Face weight loaders."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from neopain.models import ModelError, available_models, create_model
from neopain.models.vggface import VGG16_GROUPS, build_vgg16_features, conv_names, load_vggface_weights
from neopain.pixels.preprocess import HeadConfig

torch.set_num_threads(1)


@pytest.mark.parametrize("name", available_models())
def test_every_model_builds_runs_and_backpropagates(name):
    model = create_model(name, pretrained=False, input_size=64)
    assert model.cfg.name == name and model.cfg.input_size == 64
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 2)
    model.unfreeze_finetune_stages()
    logits.sum().backward()
    assert model.cfg.finetune_stages and set(model.cfg.finetune_stages) <= set(model.stages)


def test_registry_has_the_four_models_and_rejects_unknown():
    assert {"vggface16", "mobilenet_v2", "ncnn", "resnet18"} <= set(available_models())
    with pytest.raises(ModelError, match="unknown model 'vgg19'.*available"):
        create_model("vgg19")


def _grad_names(model, x):
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    return {n for n, p in model.named_parameters() if p.grad is not None}


def test_late_finetuning_trains_every_layer_but_the_first_two_stages():
    model = create_model("mobilenet_v2", pretrained=False, input_size=32)
    model.freeze_early_stages()
    frozen = {name for stage in ("stage1", "stage2") for name, _ in model.stage_parameters(stage)}
    grads = _grad_names(model, torch.randn(2, 3, 32, 32))
    assert frozen and not grads & frozen
    assert grads == {n for n, _ in model.named_parameters()} - frozen
    # The frozen stages' BatchNorm keeps its running statistics in training mode.
    model.train()
    assert not model.backbone[0].features[1].conv[0][1].training and model.backbone[0].features[4].conv[0][1].training
    with pytest.raises(ValueError, match="ncnn trains from scratch"):
        create_model("ncnn", pretrained=False, input_size=32).freeze_early_stages()


def test_vgg_phase_two_trains_exactly_head_and_conv_groups_4_5():
    model = create_model("vggface16", pretrained=False, input_size=32)
    x = torch.randn(2, 3, 32, 32)
    model.freeze_backbone()
    assert all(n.startswith("head.") for n in _grad_names(model, x))
    model.unfreeze_finetune_stages()
    expected = {f"head.{n}" for n, _ in model.head.named_parameters()}
    expected |= {f"backbone.conv{g}_{i}.{k}" for g in (4, 5) for i in (1, 2, 3) for k in ("weight", "bias")}
    assert _grad_names(model, x) == expected


def test_mobilenet_frozen_batchnorm_keeps_running_stats():
    model = create_model("mobilenet_v2", pretrained=False, input_size=64)
    model.freeze_backbone()
    model.train()
    first_bn = lambda block: next(m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn = first_bn(model.backbone[0].features[1])
    before = bn.running_mean.clone()
    model(torch.randn(4, 3, 64, 64) * 5)
    assert torch.equal(bn.running_mean, before) and not bn.training
    model.unfreeze_finetune_stages()
    model.train()
    late_bn = first_bn(model.backbone[0].features[17])
    assert late_bn.training and not bn.training


def test_head_layers_and_l1_penalty():
    model = create_model("vggface16", pretrained=False, input_size=32, head=HeadConfig(units=(7, 5), l1=0.01))
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 7), (7, 5), (5, 2)]
    expected = 0.01 * sum(m.weight.abs().sum() for m in linears)
    assert model.head_l1_penalty().item() == pytest.approx(expected.item(), rel=1e-5)
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.head) == 2


def test_mobilenet_loads_imagenet_weights_offline():
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    model = create_model("mobilenet_v2", pretrained=True, input_size=64)
    reference = mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)
    assert torch.equal(model.backbone[0].features[0][0].weight, reference.features[0][0].weight)
    assert model.cfg.channel_order == "RGB" and "IMAGENET1K_V1" in model.cfg.weights


def test_missing_pretrained_weights_fail_clearly():
    with pytest.raises(ModelError, match="resnet18.*not found.*pretrained=False"):
        create_model("resnet18", pretrained=True)
    with pytest.raises(ModelError, match="vggface16.*none found"):
        create_model("vggface16", pretrained=True)


# --- VGG-Face loaders: files with the official key names and shapes (conv part; ~59 MB) ---------------


@pytest.fixture(scope="module")
def official_conv_state():
    torch.manual_seed(0)
    reference = build_vgg16_features()
    return {k: torch.randn_like(v) for k, v in reference.state_dict().items()}


def test_dag_pth_maps_onto_our_modules(tmp_path, official_conv_state):
    assert list(official_conv_state)[:2] == ["conv1_1.weight", "conv1_1.bias"]
    assert official_conv_state["conv5_3.weight"].shape == (512, 512, 3, 3)
    state = dict(official_conv_state)
    state["fc8.weight"] = torch.zeros(2622, 8)  # fc6-fc8 of the full file are ignored
    state["fc8.bias"] = torch.zeros(2622)
    torch.save(state, tmp_path / "vgg_face_dag.pth")
    model = create_model("vggface16", pretrained=True, input_size=32, weights_path=str(tmp_path / "vgg_face_dag.pth"))
    for name in conv_names():
        assert torch.equal(model.backbone.get_submodule(name).weight, official_conv_state[f"{name}.weight"])
    assert model.cfg.weights == "vgg_face_dag.pth" and "non-commercial" in model.cfg.licence


def test_dag_pth_with_a_wrong_shape_or_missing_key_is_rejected(tmp_path, official_conv_state):
    state = dict(official_conv_state)
    state["conv4_2.weight"] = torch.zeros(512, 256, 3, 3)
    del state["conv5_3.bias"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ModelError) as err:
        load_vggface_weights(build_vgg16_features(), tmp_path / "bad.pth")
    message = str(err.value)
    assert "bad.pth" in message and "missing keys: conv5_3.bias" in message
    assert "conv4_2.weight (file (512, 256, 3, 3), expected (512, 512, 3, 3))" in message


def _write_keras_notop(path, state, skip=()):
    """A Keras 2 weights file laid out as keras-vggface's notop VGG16 (HWIO kernels)."""
    layers = ["input_1"]
    for g, count, _ in VGG16_GROUPS:
        layers += [f"conv{g}_{i}" for i in range(1, count + 1)] + [f"pool{g}"]
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = np.array([n.encode() for n in layers])
        for layer in layers:
            group = h5.create_group(layer)
            names = []
            if layer.startswith("conv") and layer not in skip:
                kernel = state[f"{layer}.weight"].numpy().transpose(2, 3, 1, 0)
                group.create_dataset(f"{layer}/kernel:0", data=kernel)
                group.create_dataset(f"{layer}/bias:0", data=state[f"{layer}.bias"].numpy())
                names = [f"{layer}/kernel:0".encode(), f"{layer}/bias:0".encode()]
            group.attrs["weight_names"] = np.array(names, dtype="S")


def test_keras_notop_h5_maps_onto_our_modules(tmp_path, official_conv_state):
    file = tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5"
    _write_keras_notop(file, official_conv_state)
    with h5py.File(file) as h5:
        assert h5["conv1_1"]["conv1_1/kernel:0"].shape == (3, 3, 3, 64)  # Keras HWIO
    features = build_vgg16_features()
    load_vggface_weights(features, file)
    assert torch.equal(features.conv1_1.weight, official_conv_state["conv1_1.weight"])
    assert torch.equal(features.conv5_3.bias, official_conv_state["conv5_3.bias"])


def test_keras_h5_missing_layer_is_rejected(tmp_path, official_conv_state):
    file = tmp_path / "partial.h5"
    _write_keras_notop(file, official_conv_state, skip=("conv3_2",))
    with pytest.raises(ModelError, match=r"partial.h5.*missing keys: conv3_2.bias, conv3_2.weight"):
        load_vggface_weights(build_vgg16_features(), file)
