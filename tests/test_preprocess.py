"""The preprocessing contract: config round trips, and numpy (serving) == torch (training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neopain.models import create_model, normalize_bgr
from neopain.pixels.preprocess import (
    ConfigError,
    HeadConfig,
    ModelConfig,
    normalize_nhwc,
    preprocess_batch,
    resize_face,
)

torch.set_num_threads(1)


def test_config_round_trips_through_json():
    cfg = create_model("vggface16", pretrained=False, input_size=64, head=HeadConfig(units=(20, 10))).cfg
    text = cfg.to_json()
    assert json.loads(text)["head"]["units"] == [20, 10]
    back = ModelConfig.from_json(text)
    assert back == cfg
    assert back.mean == pytest.approx((93.5940, 104.7624, 129.1863)) and back.channel_order == "BGR"


def test_config_rejects_bad_fields():
    with pytest.raises(ConfigError, match="channel_order"):
        ModelConfig(name="x", input_size=64, channel_order="RBG")
    with pytest.raises(ConfigError, match="unknown model config field"):
        ModelConfig.from_dict({"name": "x", "input_size": 64, "colour": "y"})
    with pytest.raises(ConfigError, match="std"):
        ModelConfig(name="x", input_size=64, std=(1, 0, 1))


@pytest.mark.parametrize("name", ["vggface16", "mobilenet_v2"])  # BGR + mean only; RGB + mean/std
def test_numpy_and_torch_paths_agree(name):
    cfg = create_model(name, pretrained=False, input_size=64).cfg
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((80, 80), (64, 64), (40, 40))]
    served = preprocess_batch(images, cfg)
    # The trainer's path: resize_face when loading, then normalize_bgr on the uint8 NCHW tensor.
    stacked = torch.from_numpy(np.stack([resize_face(i, 64) for i in images])).permute(0, 3, 1, 2)
    trained = normalize_bgr(stacked, cfg).numpy()
    assert served.shape == (3, 3, 64, 64) and served.dtype == np.float32
    np.testing.assert_allclose(served, trained, rtol=0, atol=1e-4)
    # The GPU layout (channels_last) holds the same numbers.
    np.testing.assert_allclose(served, normalize_bgr(stacked, cfg, channels_last=True).numpy(), rtol=0, atol=1e-4)


def test_channel_order_and_mean_are_applied():
    cfg = ModelConfig(name="x", input_size=16, channel_order="RGB", mean=(10, 20, 30), std=(2, 2, 2))
    bgr = np.zeros((1, 16, 16, 3), np.uint8)
    bgr[..., 0] = 100  # blue
    out = preprocess_batch(bgr, cfg)
    assert out[0, 2, 0, 0] == pytest.approx((100 - 30) / 2)  # blue is the last RGB channel
    assert out[0, 0, 0, 0] == pytest.approx(-10 / 2)


def test_preprocess_rejects_single_image_and_float():
    cfg = ModelConfig(name="x", input_size=16)
    with pytest.raises(ValueError, match="not one image"):
        preprocess_batch(np.zeros((16, 16, 3), np.uint8), cfg)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_batch([np.zeros((16, 16, 3), np.float32)], cfg)


@pytest.mark.parametrize("name", ["vggface16", "mobilenet_v2"])
def test_uint8_pixels_by_table_give_the_same_bits_as_the_arithmetic(name):
    """The serving path normalises uint8 crops by a table per channel; float pixels take the arithmetic."""
    cfg = create_model(name, pretrained=False, input_size=32).cfg
    batch = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    batch[0, 0, :3] = [[0, 0, 0], [255, 255, 255], [1, 128, 254]]
    by_table = normalize_nhwc(batch, cfg)
    by_arithmetic = normalize_nhwc(batch.astype(np.float32), cfg)
    assert by_table.dtype == np.float32 and by_table.flags.c_contiguous and by_table.shape == (2, 3, 32, 32)
    assert np.array_equal(by_table, by_arithmetic)
