"""Two-phase training on tiny synthetic faces (CPU, VGG-Face topology at 32 px, random weights)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from _train_helpers import make_faces

from neopain.data.manifest import binary_task, read_manifest, write_manifest
from neopain.models import create_model
from neopain.pixels.preprocess import HeadConfig
from neopain.train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from neopain.train.data import TrainDataError, split_train_val
from neopain.train.trainer import TrainConfig, predict_samples, train, training_crop

torch.set_num_threads(1)

TINY = TrainConfig(epochs=4, batch_size=8, patience=2, augment="none", pretrained=False, input_size=32,
                   device="cpu", head=HeadConfig(units=(32,), l1=0.0))


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faces")
    manifest, _ = make_faces(folder, subjects=4, per_class=3, unlabelled=2)
    return manifest, binary_task(read_manifest(manifest))


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_loss_falls_and_outputs_are_written(faces, tmp_path):
    manifest, samples = faces
    result = train(samples, manifest, "vggface16", tmp_path / "run", replace(TINY, epochs=6, lr_head=1e-3, patience=6))
    losses = [r["train_loss"] for r in result.history]
    assert min(losses[-2:]) < 0.8 * losses[0]
    for name in ("best.pt", "last.pt", "history.jsonl", "history.csv", "curves.png", "model_config.json", "split.json"):
        assert (tmp_path / "run" / name).is_file(), name
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 7))
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["val_subjects"] and not set(split["val_subjects"]) & set(split["train_subjects"])


def test_phase_two_starts_after_plateau_and_trains_only_head_and_groups_4_5(faces, tmp_path):
    manifest, samples = faces
    # lr 0 in phase 1: the validation loss cannot improve, so phase 2 starts after `patience` epochs.
    config = replace(TINY, epochs=5, patience=2, lr_head=0.0, lr_finetune=1e-2)
    result = train(samples, manifest, "vggface16", tmp_path / "run", config)
    assert [r["phase"] for r in result.history] == [1, 1, 1, 2, 2]
    assert result.stop_reason == "plateau in phase 2" or len(result.history) == 5
    torch.manual_seed(TINY.seed)
    initial = _state(create_model("vggface16", pretrained=False, input_size=32, head=TINY.head))
    final, _, ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["phase"] == 2
    changed = {k.rsplit(".", 1)[0] for k, v in final.state_dict().items() if not torch.equal(v, initial[k])}
    expected = {f"backbone.conv{g}_{i}" for g in (4, 5) for i in (1, 2, 3)} | {"head.1", "head.4"}
    assert changed == expected


def test_finetune_all_trains_every_layer_in_one_phase(faces, tmp_path):
    manifest, samples = faces
    config = replace(TINY, epochs=4, patience=1, lr_head=1e-3, finetune="all")
    result = train(samples, manifest, "vggface16", tmp_path / "run", config)
    assert {r["phase"] for r in result.history} == {1}
    torch.manual_seed(TINY.seed)
    initial = _state(create_model("vggface16", pretrained=False, input_size=32, head=TINY.head))
    final, _, _ = load_checkpoint(tmp_path / "run" / "last.pt")
    changed = {k.rsplit(".", 1)[0] for k, v in final.state_dict().items() if not torch.equal(v, initial[k])}
    assert {"backbone.conv1_1", "backbone.conv3_1", "backbone.conv5_3", "head.1"} <= changed


def test_same_seed_gives_same_weights_and_resume_continues_exactly(faces, tmp_path):
    manifest, samples = faces
    config = replace(TINY, epochs=3, augment="online", lr_head=1e-3, patience=5)
    a = train(samples, manifest, "vggface16", tmp_path / "a", config)
    b = train(samples, manifest, "vggface16", tmp_path / "b", config)
    wa, wb = read_checkpoint(a.last_checkpoint)["model"], read_checkpoint(b.last_checkpoint)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # Two epochs, then resume to three: the same weights as three in one go.
    train(samples, manifest, "vggface16", tmp_path / "c", replace(config, epochs=2))
    c = train(samples, manifest, "vggface16", tmp_path / "c", replace(config, resume=True))
    wc = read_checkpoint(c.last_checkpoint)["model"]
    assert len(c.history) == 3 and all(torch.equal(wa[k], wc[k]) for k in wa)
    other = train(samples, manifest, "vggface16", tmp_path / "d", replace(config, seed=1))
    wd = read_checkpoint(other.last_checkpoint)["model"]
    assert not all(torch.equal(wa[k], wd[k]) for k in wa)


def test_offline_mode_trains_on_the_augmented_copies(faces, tmp_path):
    manifest, samples = faces
    result = train(samples, manifest, "ncnn", tmp_path / "run", replace(TINY, epochs=1, augment="offline", copies=3))
    assert result.history[0]["train_images"] == 3 * len(result.train_indices)


def test_checkpoint_loads_back_with_its_config(faces, tmp_path):
    manifest, samples = faces
    result = train(samples, manifest, "mobilenet_v2", tmp_path / "run", replace(TINY, epochs=1))
    model, cfg, ckpt = load_checkpoint(result.checkpoint)
    assert cfg == result.config and cfg.name == "mobilenet_v2" and cfg.input_size == 32
    assert {"model", "config", "optimizer", "epoch", "phase", "history", "manifest_hash", "seed"} <= set(ckpt)
    assert ckpt["crop"] == training_crop(manifest)  # crop.json beside the faces, or None without one
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), result.model(x))
    probs = predict_samples(model, samples[:5], manifest, device="cpu")
    assert probs.shape == (5, 2) and torch.allclose(probs.sum(1), torch.ones(5))


def test_training_crop_comes_from_the_faces_folder(tmp_path):
    faces_csv = tmp_path / "faces.csv"
    assert training_crop(faces_csv) is None
    (tmp_path / "crop.json").write_text('{"size": 112, "margin": 0.1, "align": false, "detector": "box"}')
    assert training_crop(faces_csv) == {"size": 112, "margin": 0.1, "align": False}
    (tmp_path / "crop.json").write_text('{"margin": 9}')
    with pytest.raises(ValueError, match="crop.json"):
        training_crop(faces_csv)


def test_label_set_mismatch_with_checkpoint_is_rejected(faces, tmp_path):
    manifest, samples = faces
    result = train(samples, manifest, "ncnn", tmp_path / "run", replace(TINY, epochs=1))
    ckpt = read_checkpoint(result.checkpoint)
    ckpt["config"]["labels"] = ["calm", "pain"]
    save_checkpoint(tmp_path / "other.pt", ckpt)
    with pytest.raises(CheckpointError, match=r"labels \['calm', 'pain'\] do not match"):
        load_checkpoint(tmp_path / "other.pt")


def test_resume_with_other_rows_is_rejected(faces, tmp_path):
    manifest, samples = faces
    train(samples, manifest, "ncnn", tmp_path / "run", replace(TINY, epochs=1))
    with pytest.raises(CheckpointError, match="manifest hash"):
        train(samples[:-1], manifest, "ncnn", tmp_path / "run", replace(TINY, epochs=2, resume=True))


def test_bad_training_sets_give_clear_errors(faces, tmp_path):
    manifest, samples = faces
    with pytest.raises(TrainDataError, match="class pain has no images"):
        train([s for s in samples if s.label == "no_pain"], manifest, "ncnn", tmp_path / "a", TINY)
    with pytest.raises(TrainDataError, match="one subject"):
        train([s for s in samples if s.subject == "S00"], manifest, "ncnn", tmp_path / "b", TINY)
    with pytest.raises(TrainDataError, match="no pain/no_pain label"):
        train(read_manifest(manifest), manifest, "ncnn", tmp_path / "c", TINY)
    ghost = [s.with_(path=f"gone/{i}.png") if i < 2 else s for i, s in enumerate(samples)]
    ghost_manifest = write_manifest(ghost, manifest.parent / "ghost.csv")
    with pytest.raises(TrainDataError, match=r"ghost.csv: 2 face file\(s\) missing.*gone/0.png"):
        train(ghost, ghost_manifest, "ncnn", tmp_path / "d", TINY)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="accuracy")
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment="sometimes")


def test_validation_split_is_grouped_by_subject_and_seeded(faces):
    _, samples = faces
    train_idx, val_idx = split_train_val(samples, 0.25, seed=3)
    assert (train_idx, val_idx) == split_train_val(samples, 0.25, seed=3)
    assert not {samples[i].subject for i in train_idx} & {samples[i].subject for i in val_idx}
    assert {samples[i].label for i in train_idx} == {"pain", "no_pain"}
    assert sorted(train_idx + val_idx) == list(range(len(samples)))
