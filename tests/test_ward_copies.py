"""``neopain train --augment nicu``: the ward's conditions drawn onto training crops from their landmarks,
the regions they hide unknown in the copy, the conditions recorded for the gate (issue 19, item 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neopain.data import Sample, write_manifest
from neopain.data.synthetic import SynthConfig, identity_for, render_image
from neopain.export import export_checked
from neopain.faces import CropSettings, create_detector, crop_with, transform_points
from neopain.inference import OnnxClassifier
from neopain.scales.nfcs import ACTIONS
from neopain.train import TrainConfig, load_checkpoint, train
from neopain.train.data import FaceSet
from neopain.train.ward_copies import COPY_CONDITIONS, TAUGHT, ward_copies, ward_copy
from tests._train_helpers import make_faces


@pytest.fixture(scope="module")
def crop_and_points() -> tuple[np.ndarray, np.ndarray]:
    config = SynthConfig(subjects=1, images_per_subject=1, size=160, hand_rate=0, tube_rate=0, finger_rate=0,
                         roll_max_deg=40)
    im = render_image(config, identity_for(config, 1), 1, 0)
    face = create_detector("box").detect_sample(im.image, Sample("a", "s", box=im.box, landmarks=im.landmarks))[0]
    crop, affine = crop_with(im.image, face, CropSettings(size=96))
    return crop, transform_points(affine, face.landmarks)


@pytest.mark.parametrize(("condition", "region"), [("phototherapy", "eyes"), ("cpap_mask", "mouth"),
                                                   ("pacifier", "mouth")])
def test_an_occluder_hides_its_region(crop_and_points, condition: str, region: str) -> None:
    crop, points = crop_and_points
    copy, hidden = ward_copy(crop, points, condition, np.random.default_rng(0))
    assert region in hidden and copy.shape == crop.shape and not np.array_equal(copy, crop)


def test_the_lights_change_the_colours_and_hide_nothing_but_the_shields(crop_and_points) -> None:
    crop, points = crop_and_points
    night, hidden = ward_copy(crop, points, "infrared", np.random.default_rng(0))
    assert hidden == () and np.array_equal(night[..., 0], night[..., 2])
    lamps, hidden = ward_copy(crop, points, "phototherapy", np.random.default_rng(0))
    b, _, r = lamps.reshape(-1, 3).mean(axis=0)
    assert b > 1.5 * r and hidden == ("eyes",)


def test_copies_leave_hidden_actions_unknown_and_the_originals_alone(crop_and_points) -> None:
    crop, points = crop_and_points
    n = 14
    images = torch.from_numpy(np.stack([crop.transpose(2, 0, 1)] * n))
    nfcs = torch.ones(n, len(ACTIONS) + 1)
    faces = FaceSet(images, torch.zeros(n, dtype=torch.long), [f"s{i}" for i in range(n)], nfcs=nfcs)
    enlarged, drawn = ward_copies(faces, np.stack([points] * n), 0.5, ACTIONS, seed=3)
    assert len(enlarged) == n + 7 and len(drawn) == 7 and set(drawn) <= set(COPY_CONDITIONS)
    assert torch.equal(enlarged.images[:n], images) and torch.equal(enlarged.nfcs[:n], nfcs)
    for k, condition in enumerate(drawn):
        row = enlarged.nfcs[n + k]
        if condition in ("cpap_mask", "pacifier"):
            assert torch.isnan(row[ACTIONS.index("open_lips")]) and torch.isnan(row[-1])
        assert row[ACTIONS.index("brow_bulge")] == 1.0 or condition == "caregiver_hand"
    again, drawn_again = ward_copies(faces, np.stack([points] * n), 0.5, ACTIONS, seed=3)
    assert drawn_again == drawn and torch.equal(again.images, enlarged.images)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ward_copies(faces, np.stack([points] * n), 0.0, ACTIONS, seed=3)


def test_augment_nicu_trains_with_copies_and_the_model_knows_its_conditions(tmp_path: Path) -> None:
    manifest, samples = make_faces(tmp_path / "faces", subjects=3, per_class=3, size=48)
    coded = [s.with_(actions={"open_lips": int(s.label == "pain")}) for s in samples]
    write_manifest(coded, manifest)
    config = TrainConfig(epochs=1, batch_size=4, augment="nicu", pretrained=False, device="cpu",
                         targets=("pain", "nfcs"), input_size=48)
    assert (config.augment, config.ward_copies) == ("online", 0.5)
    result = train(coded, manifest, "ncnn", tmp_path / "run", config)
    _, _, checkpoint = load_checkpoint(result.checkpoint)
    assert set(TAUGHT) <= set(checkpoint["conditions"]) and checkpoint["train_config"]["ward_copies"] == 0.5
    model = export_checked(result.checkpoint, tmp_path / "m.onnx").path
    assert set(OnnxClassifier(model).conditions) == set(TAUGHT)
    with pytest.raises(ValueError, match="ward copies"):
        TrainConfig(ward_copies=1.5)
