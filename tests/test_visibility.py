"""The model reads which NFCS regions show (``--targets pain,...,visible``; issue 19): targets from the
manifests' ``hidden`` regions, masked where a row does not record them, kept or changed by the training
copies, exported as an ONNX output, and used by the ward's gate in place of the colour test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neopain.data import Sample, write_manifest
from neopain.export import export_checked
from neopain.inference import OnnxClassifier, Predictor, read_ward
from neopain.inference.batch import assessment_row
from neopain.models import create_model
from neopain.pixels.preprocess import ConfigError, HeadConfig, ModelConfig, preprocess_batch
from neopain.scales.nfcs import ACTIONS, REGIONS
from neopain.train import TrainConfig, load_checkpoint, train
from neopain.train.data import FaceSet, TrainDataError, load_faces, visibility_targets
from neopain.train.loop import evaluate, make_optimizer, make_runtime, masked_bce, rank_auc, train_step
from neopain.train.occlusion import occluded_copies
from neopain.train.ward_copies import ward_copies
from tests._export_helpers import astronaut_bgr, on_canvas
from tests._train_helpers import make_faces

MOUTH = REGIONS.index("mouth")


def _covered(face: np.ndarray) -> np.ndarray:
    """The face with a pale block over its lower half (what the tests call a hidden mouth)."""
    face = face.copy()
    face[face.shape[0] // 2 :] = (235, 235, 225)
    return face


def test_config_lists_the_output_and_refuses_unknown_regions() -> None:
    cfg = ModelConfig(name="ncnn", input_size=32, visible=("mouth", "eyes"))
    assert cfg.outputs == ("logits", "visible")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig(name="ncnn", input_size=32, actions=ACTIONS, nfcs_version="nfcs-10",
                       visible=REGIONS).outputs == ("logits", "actions", "nfcs_count", "visible")
    assert "visible" not in ModelConfig(name="ncnn", input_size=32).to_dict()  # old configs keep their bytes
    with pytest.raises(ConfigError, match="unknown region.*'lips'"):
        ModelConfig(name="ncnn", input_size=32, visible=("lips",))
    with pytest.raises(ConfigError, match="distinct"):
        ModelConfig(name="ncnn", input_size=32, visible=("mouth", "mouth"))
    with pytest.raises(ValueError, match="'pain' followed by"):
        TrainConfig(targets=("visible",))
    assert TrainConfig(targets=("pain", "nfcs", "visible")).targets == ("pain", "nfcs", "visible")


def test_targets_are_known_only_where_a_row_records_its_hidden_regions() -> None:
    rows = [Sample("a.png", "s1", dataset="synthetic", hidden=("mouth",)), Sample("b.png", "s1", dataset="icope"),
            Sample("c.png", "s2", dataset="icope", hidden=("eyes", "chin"))]
    table = visibility_targets(rows, REGIONS, recorded=False)
    assert table[0].tolist() == [1, 1, 1, 0, 1]  # synthetic: the generator records every hidden region
    assert np.isnan(table[1:]).all()  # no hidden column: an empty cell says nothing
    recorded = visibility_targets(rows, REGIONS, recorded=True)
    assert recorded[1].tolist() == [1] * 5 and recorded[2].tolist() == [1, 0, 1, 1, 0]
    with pytest.raises(TrainDataError, match="x.csv: --targets visible needs rows that record"):
        visibility_targets(rows[1:], REGIONS, recorded=False, what="x.csv")


def test_a_manifest_with_a_hidden_column_records_every_row(tmp_path: Path) -> None:
    manifest, samples = make_faces(tmp_path, subjects=2, per_class=2, size=32)
    real = [s.with_(dataset="own") for s in samples]
    write_manifest(real, manifest)
    with pytest.raises(TrainDataError, match="faces.csv"):
        load_faces(real, manifest, 32, visible=REGIONS)
    real[0] = real[0].with_(hidden=("mouth",))
    write_manifest(real, manifest)  # now with a hidden column: the other rows hide nothing
    faces = load_faces(real, manifest, 32, visible=REGIONS)
    assert faces.visible.shape == (len(real), len(REGIONS)) and faces.visible[0, MOUTH] == 0
    assert faces.visible[1:].eq(1).all()


def test_masked_bce_ignores_unknown_entries() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0], [-2.0, 0.0]], requires_grad=True)
    labels = torch.tensor([[1.0, float("nan")], [0.0, 1.0], [float("nan"), float("nan")]])
    loss = masked_bce(logits, labels)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = (bce(logits[:2, 0], labels[:2, 0]) + bce(logits[1:2, 1], labels[1:2, 1])).item()
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert logits.grad[2].abs().sum() == 0 and logits.grad[0, 1] == 0  # unknown entries teach nothing
    assert masked_bce(logits, torch.full_like(labels, float("nan"))).item() == 0.0


def _faces(n: int, size: int = 32) -> FaceSet:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(60, 120, (n, 3, size, size), dtype=np.uint8))
    visible = torch.ones(n, len(REGIONS))
    visible[0, REGIONS.index("brow")] = 0.0
    nfcs = torch.ones(n, len(ACTIONS) + 1)
    return FaceSet(images, torch.zeros(n, dtype=torch.long), [f"s{i}" for i in range(n)], nfcs=nfcs, visible=visible)


def test_ward_copies_hide_what_they_cover_and_keep_the_rest() -> None:
    n, size = 10, 96
    faces = _faces(n, size)
    points = np.array([[34, 40], [62, 40], [48, 55], [37, 70], [59, 70]], np.float64)
    enlarged, drawn = ward_copies(faces, np.stack([points] * n), 1.0, ACTIONS, seed=1)
    assert torch.equal(enlarged.visible[:n], faces.visible)
    for k, condition in enumerate(drawn):
        row = enlarged.visible[n + k]
        if condition in ("cpap_mask", "pacifier"):
            assert row[MOUTH] == 0
        if condition == "phototherapy":
            assert row[REGIONS.index("eyes")] == 0
        if condition == "infrared":
            assert torch.equal(row, faces.visible[k])  # a grey frame hides nothing
        assert row[REGIONS.index("brow")] == faces.visible[k, REGIONS.index("brow")] or condition == "caregiver_hand"


def test_a_blurred_region_is_unknown_in_its_copy() -> None:
    n, size = 6, 32
    faces = _faces(n, size)
    parts = np.zeros((n, len(REGIONS), size, size), bool)
    parts[:, :, 10:20, 10:20] = True
    enlarged, which = occluded_copies(faces, parts, 1.0, ACTIONS, seed=0)
    for k, (source, region) in enumerate(which):
        row = enlarged.visible[n + k]
        assert torch.isnan(row[region])
        others = [r for r in range(len(REGIONS)) if r != region]
        assert torch.equal(row[others], faces.visible[source, others])


def test_the_visibility_head_learns_a_covered_mouth() -> None:
    rng = np.random.default_rng(3)
    clean = [rng.integers(60, 140, (32, 32, 3), dtype=np.uint8) for _ in range(48)]
    hidden = np.arange(48) % 2 == 1
    crops = [_covered(c) if h else c for c, h in zip(clean, hidden)]
    torch.manual_seed(0)
    model = create_model("ncnn", pretrained=False, input_size=32, head=HeadConfig(units=(16,), dropout=0.0))
    model.add_visible_head(REGIONS)
    x = torch.from_numpy(preprocess_batch(crops, model.cfg))
    visible = torch.full((48, len(REGIONS)), float("nan"))
    visible[:, MOUTH] = torch.from_numpy(~hidden).float()
    runtime, optimizer = make_runtime("cpu"), make_optimizer(model, 1e-3)
    model.train()
    untrained_head = model.visible_head[1].weight.detach().clone()
    for _ in range(60):
        train_step(model, x, torch.zeros(48, dtype=torch.long), optimizer, runtime, visible=visible)
    model.eval()
    with torch.no_grad():
        _, _, shows = model.forward_heads(x)
    assert rank_auc(shows[:, MOUTH], visible[:, MOUTH]) > 0.95
    # Rows unknown for the other regions taught their weights nothing beyond the shared step's decay: the
    # mouth's row moved more than any other.
    moved = (model.visible_head[1].weight.detach() - untrained_head).abs().sum(1)
    assert int(moved.argmax()) == MOUTH
    # Validation reports the visibility loss beside (not in place of) the ranking of P(pain).
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(hidden.astype(np.int64))
    stats = evaluate(model, FaceSet(images, labels, ["s"] * 48, visible=visible), runtime)
    assert stats.visible == pytest.approx(float(masked_bce(shows, visible)), rel=1e-4)
    pain_only = evaluate(model, FaceSet(images, labels, ["s"] * 48), runtime)
    assert stats.auc == pain_only.auc and pain_only.visible == 0.0 and 0.0 <= stats.auc <= 1.0


@pytest.fixture(scope="module")
def visibility_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("visible")
    manifest, samples = make_faces(folder / "faces", subjects=3, per_class=3, size=48)
    samples = [s.with_(actions={"open_lips": int(s.label == "pain")}, hidden=("mouth",) if i % 3 == 0 else ())
               for i, s in enumerate(samples)]
    write_manifest(samples, manifest)
    config = TrainConfig(epochs=2, batch_size=4, augment="none", pretrained=False, device="cpu",
                         targets=("pain", "nfcs", "visible"), input_size=48)
    result = train(samples, manifest, "ncnn", folder / "run", config)
    assert "val_visible" in result.history[-1]
    model, cfg, _ = load_checkpoint(result.checkpoint)
    assert cfg.visible == REGIONS and model.visible_head is not None
    return export_checked(result.checkpoint, folder / "m.onnx").path  # parity checked over every output


def test_the_exported_model_reads_visibility_per_region(visibility_model: Path) -> None:
    classifier = OnnxClassifier(visibility_model)
    assert classifier.has_visibility and classifier.has_actions
    assert classifier.config.outputs[-1] == "visible"
    crops = [np.full((48, 48, 3), v, np.uint8) for v in (60, 200)]
    out = classifier.read(crops)
    readings = classifier.visibility_of(out)
    assert [sorted(r) for r in readings] == [sorted(REGIONS)] * 2
    assert all(0.0 <= p <= 1.0 for r in readings for p in r.values())
    assert np.allclose(classifier.pain_of(out), classifier.probabilities(crops))


def test_the_gate_takes_the_models_reading_of_the_regions() -> None:
    crop = np.full((96, 96, 3), (120, 140, 190), np.uint8)  # skin-coloured, white light: no light finding
    points = np.array([[34, 40], [62, 40], [48, 55], [37, 70], [59, 70]], np.float64)
    colours = read_ward(crop, points)
    assert colours.findings == () and colours.hidden_by_model == ()
    seen = {"brow": 0.2, "eyes": 0.9, "nasolabial": 0.8, "mouth": 0.1, "chin": 0.7}
    reading = read_ward(crop, points, visible=seen)
    assert reading.findings == ("mouth_covered",) and reading.covered["mouth"] == pytest.approx(0.9)
    assert reading.hidden_regions() == ("mouth", "brow")
    assert reading.blocking(()) == ("mouth_covered",) and reading.blocking(("pacifier",)) == ()


def test_the_predictor_asks_the_model_which_regions_show(visibility_model: Path, monkeypatch) -> None:
    predictor = Predictor.from_files(visibility_model, rotations="off")
    frame = on_canvas(astronaut_bgr(), scale=0.6)
    seen = {r: 1.0 for r in REGIONS}
    calls = []

    def reads(out):
        calls.append(out)
        return [dict(seen)]

    monkeypatch.setattr(predictor.classifier, "visibility_of", reads)
    clear = predictor.assess(frame)
    assert clear.status == "ok" and clear.ward.findings == () and clear.ward.hidden_by_model == ()
    seen.update(eyes=0.0, mouth=0.0, chin=0.1)
    covered = predictor.assess(frame)
    assert len(calls) == 2 and set(covered.ward.hidden_by_model) == {"eyes", "mouth", "chin"}
    # The training faces showed no ward condition: the hidden eyes stop the reading, said in words.
    assert covered.status == "no_assessment" and covered.reason == "eyes_hidden"
    # What `neopain predict --out r.json / r.csv` writes: the hidden regions, and that the model said so.
    row = assessment_row("frame.jpg", None, covered)
    assert set(row["ward"]["hidden_by_model"]) == {"eyes", "mouth", "chin"}
    assert set(row["hidden_regions"].split(";")) == {"eyes", "mouth", "chin"}
    assert row["ward_findings"] == "eyes_hidden;mouth_covered" and row["ward"]["covered"]["eyes"] == 1.0
    assert assessment_row("frame.jpg", None, clear)["hidden_regions"] == ""
