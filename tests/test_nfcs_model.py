"""The NFCS multi-task model: config, masked loss, training, multi-output ONNX (float and int8), and the
torch-free predictor's per-action reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from neopain.data import Sample, write_manifest
from neopain.export import export_checked, quantize
from neopain.inference import META_OUTPUTS, ModelFileError, OnnxClassifier, Predictor, read_nfcs
from neopain.inference.batch import assessment_row
from neopain.pixels.preprocess import ConfigError, ModelConfig, preprocess_batch
from neopain.scales.nfcs import ACTIONS
from neopain.train import TrainConfig, TrainDataError, load_checkpoint, train
from neopain.train.loop import nfcs_loss
from tests._export_helpers import (
    TAUGHT,
    astronaut_bgr,
    cue_crops,
    make_checkpoint,
    nfcs_checkpoint,
    nfcs_model,
    on_canvas,
)
from tests._train_helpers import draw_face, make_faces


@pytest.fixture(scope="module")
def nfcs_files(tmp_path_factory) -> dict:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("nfcs")
    checkpoint, model = nfcs_checkpoint(folder)
    exported = export_checked(checkpoint, folder / "m.onnx")
    int8 = quantize(exported.path, folder / "m.int8.onnx", "static", calibration_crops=cue_crops(32, 64, 1)[0])
    return {"model": model, "checkpoint": checkpoint, "float": exported.path, "int8": int8}


def test_config_lists_the_outputs_and_refuses_unknown_actions_and_versions() -> None:
    plain = ModelConfig(name="ncnn", input_size=64)
    assert plain.outputs == ("logits",) and plain.actions == ()
    coded = plain.with_(actions=ACTIONS, nfcs_version="nfcs-8")
    assert coded.outputs == ("logits", "actions", "nfcs_count")
    assert ModelConfig.from_dict(json.loads(coded.to_json())) == coded
    with pytest.raises(ConfigError, match="unknown NFCS action 'frown'"):
        plain.with_(actions=("frown",), nfcs_version="nfcs-10")
    with pytest.raises(ConfigError, match="unknown NFCS version 'nfcs-7'"):
        plain.with_(actions=ACTIONS, nfcs_version="nfcs-7")


def test_the_nfcs_loss_ignores_what_a_row_does_not_code() -> None:
    outputs = torch.zeros(4, len(ACTIONS) + 1, requires_grad=True)
    nothing = torch.full((4, len(ACTIONS) + 1), float("nan"))
    loss = nfcs_loss(outputs, nothing)
    loss.backward()
    assert float(loss.detach()) == 0.0 and not outputs.grad.any()
    scored = nothing.clone()
    scored[:, -1] = 3.0  # UNIFESP-like rows: a score, no action labels
    outputs.grad = None
    nfcs_loss(outputs, scored).backward()
    assert outputs.grad[:, -1].abs().sum() > 0 and not outputs.grad[:, :-1].any()


def test_training_teaches_the_coded_action_and_leaves_unknown_ones_alone() -> None:
    untrained = nfcs_model(steps=0)
    model = nfcs_model()
    crops, targets = cue_crops(40, 64, seed=9)
    with torch.no_grad():
        _, outputs = model.forward_all(torch.from_numpy(preprocess_batch(crops, model.cfg)))
    assert roc_auc_score(targets, outputs[:, ACTIONS.index(TAUGHT)].numpy()) >= 0.9
    weight, before = model.nfcs_head[1].weight, untrained.nfcs_head[1].weight
    others = [i for i, a in enumerate(ACTIONS) if a != TAUGHT] + [len(ACTIONS)]
    assert torch.equal(weight[others], before[others])  # no label, no gradient: unknown is not "absent"


def test_train_targets_nfcs_saves_the_outputs_and_needs_labels(tmp_path: Path) -> None:
    manifest, samples = make_faces(tmp_path / "faces", subjects=3, per_class=3, size=48)
    coded = [s.with_(actions={TAUGHT: int(s.label == "pain")}, nfcs_score=None) for s in samples]
    write_manifest(coded, manifest)
    config = TrainConfig(epochs=2, batch_size=4, augment="none", pretrained=False, device="cpu",
                         targets=("pain", "nfcs"), input_size=48)
    result = train(coded, manifest, "ncnn", tmp_path / "run", config)
    _, cfg, ckpt = load_checkpoint(result.checkpoint)
    assert cfg.actions == ACTIONS and cfg.nfcs_version == "nfcs-10"
    assert tuple(ckpt["train_config"]["targets"]) == ("pain", "nfcs")
    with pytest.raises(TrainDataError, match="no row has an nfcs_<action> value or an nfcs_score"):
        train(samples, manifest, "ncnn", tmp_path / "none", config)
    with pytest.raises(ValueError, match="targets must be"):
        TrainConfig(targets=("nfcs",))


def test_onnx_carries_every_output_in_float_and_int8(nfcs_files: dict) -> None:
    crops, targets = cue_crops(40, 64, seed=9)
    p_float, a_float, n_float = OnnxClassifier(nfcs_files["float"]).nfcs(crops)
    p_int8, a_int8, n_int8 = OnnxClassifier(nfcs_files["int8"]).nfcs(crops)
    assert a_float.shape == (40, len(ACTIONS)) and n_float.shape == (40,)
    column = ACTIONS.index(TAUGHT)
    assert roc_auc_score(targets, a_float[:, column]) >= 0.9
    # int8 keeps the heads float: the action probabilities move only as much as the features do.
    assert np.abs(a_int8 - a_float).max() < 0.05 and np.abs(p_int8 - p_float).mean() < 0.05
    assert np.abs(n_int8 - n_float).max() < 0.1  # the count, in actions
    meta = OnnxClassifier(nfcs_files["int8"]).metadata
    assert json.loads(meta[META_OUTPUTS]) == {
        "outputs": ["logits", "actions", "nfcs_count"], "actions": list(ACTIONS), "nfcs_version": "nfcs-10"}


def test_asking_a_pain_only_model_for_actions_names_the_file(tmp_path: Path) -> None:
    plain = export_checked(make_checkpoint(tmp_path, steps=0), tmp_path / "plain.onnx").path
    with pytest.raises(ModelFileError, match=r"plain\.onnx: this model has no NFCS action outputs"):
        OnnxClassifier(plain).nfcs([draw_face("pain", np.random.default_rng(0), 64)])


def test_the_predictor_reads_every_action_of_a_real_face(nfcs_files: dict) -> None:
    predictor = Predictor.from_files(nfcs_files["int8"])
    result = predictor.assess(on_canvas(astronaut_bgr()))
    assert result.ok and result.nfcs is not None
    reading = result.nfcs
    assert list(reading.actions) == list(ACTIONS) and reading.items == reading.items_read == 10
    assert reading.score == sum(a.present for a in reading.actions.values())
    row = assessment_row("astronaut", None, result)
    assert row["nfcs_score"] == reading.score and row[f"p_{TAUGHT}"] == pytest.approx(
        reading.actions[TAUGHT].probability, abs=1e-5)
    assert result.to_dict()["nfcs"]["version"] == "nfcs-10"


def test_a_hidden_action_is_not_assessable_never_absent() -> None:
    probabilities = [0.9, 0.9, 0.1] + [0.1] * 7
    hidden = read_nfcs(ACTIONS, probabilities, "nfcs-10", assessable={"nasolabial_furrow": False})
    assert (hidden.score, hidden.items_read, hidden.scorable, hidden.pain_by_rule) == (2, 9, False, None)
    assert hidden.actions["nasolabial_furrow"].assessable is False
    enough = read_nfcs(ACTIONS, [0.9] * 3 + [0.1] * 7, "nfcs-10", assessable={"chin_quiver": False})
    assert enough.pain_by_rule is True  # three present already: the hidden item cannot undo it
    clear = read_nfcs(ACTIONS, probabilities, "nfcs-10")
    assert (clear.score, clear.scorable, clear.pain_by_rule) == (2, True, False)
    short = read_nfcs(ACTIONS, probabilities, "nfcs-p-3")
    assert (short.score, short.items) == (2, 3)


def test_manifest_samples_keep_unknown_actions_out_of_the_targets() -> None:
    from neopain.train.data import nfcs_targets

    rows = [Sample(path="a", subject="s", actions={"brow_bulge": 1}), Sample(path="b", subject="s", nfcs_score=4.0)]
    table = nfcs_targets(rows, ACTIONS)
    assert table[0, 0] == 1.0 and np.isnan(table[0, 1:]).all()
    assert np.isnan(table[1, :-1]).all() and table[1, -1] == 4.0


def test_table_ii_gives_each_action_its_auc_and_agreement(nfcs_files: dict, tmp_path: Path) -> None:
    from neopain.export import table_ii

    crops, targets = cue_crops(30, 64, seed=9)
    truth = {a: np.full(30, np.nan) for a in ACTIONS}
    truth[TAUGHT] = targets.astype(float)
    table = table_ii({"float": nfcs_files["float"], "static": nfcs_files["int8"]}, crops, targets, repeats=2,
                     out_md=tmp_path / "t.md", actions_truth=truth)
    float_row, int8_row = table["rows"]
    assert float_row["action_auc"][TAUGHT] >= 0.9 and float_row["action_auc"]["lip_purse"] is None
    agreement = int8_row["action_agreement_with_float"]
    assert agreement["present_agreement"][TAUGHT] >= 0.95 and agreement["max_abs_p_diff"] < 0.05
    text = (tmp_path / "t.md").read_text()
    assert "| brow bulge |" in text and "NFCS actions: AUC" in text


def test_rank_auc_matches_sklearn_and_skips_unknown_labels() -> None:
    from neopain.train.loop import rank_auc

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50).astype(float)
    scores = labels * 0.5 + rng.normal(0, 0.5, 50)
    scores[:5] = scores[5]  # ties count half, as in sklearn
    expected = roc_auc_score(labels[10:], scores[10:])
    labels[:10] = np.nan
    got = rank_auc(torch.tensor(scores), torch.tensor(labels))
    assert got == pytest.approx(expected, abs=1e-12)
    assert rank_auc(torch.tensor([0.1, 0.2]), torch.tensor([1.0, float("nan")])) is None


def test_monitor_auc_keeps_the_epoch_with_the_best_validation_auc(tmp_path: Path) -> None:
    manifest, samples = make_faces(tmp_path / "faces", subjects=4, per_class=3, size=48)
    coded = [s.with_(actions={TAUGHT: int(s.label == "pain")}, nfcs_score=None) for s in samples]
    write_manifest(coded, manifest)
    config = TrainConfig(epochs=4, batch_size=4, augment="none", pretrained=False, device="cpu",
                         targets=("pain", "nfcs"), input_size=48, monitor="auc", patience=4)
    result = train(coded, manifest, "ncnn", tmp_path / "run", config)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    aucs = [h["val_auc"] for h in history]
    assert all(a is not None and 0.0 <= a <= 1.0 for a in aucs)
    assert result.best_epoch == 1 + int(np.argmax(aucs))  # the first of the best, as a plateau counts
    with pytest.raises(ValueError, match="monitor must be one of"):
        TrainConfig(monitor="accuracy")
