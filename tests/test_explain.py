"""Integrated Gradients, NFCS region placement, the explain run, the CLI and the torch-free launcher."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neopain.data.synthetic import SynthConfig, identity_for, render_image
from neopain.explain.ig import BgrModel, IGSettings, explain_crops, make_baseline, positive_map
from neopain.faces.regions import mask_shares, place_regions, present_regions, region_masks
from neopain.models import create_model
from neopain.scales.nfcs import REGIONS, region_bit
from neopain.train.checkpoint import CheckpointError, save_checkpoint

torch.set_num_threads(1)

# right eye, left eye, nose, right mouth corner, left mouth corner (subject's right = image left)
LANDMARKS = np.array([[40.0, 50.0], [60.0, 50.0], [50.0, 62.0], [43.0, 75.0], [57.0, 75.0]])


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return create_model("ncnn", pretrained=False, input_size=32).eval()


def _crops(n: int, seed: int = 0, size: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_completeness_holds_within_tolerance(tiny_model):
    attrs = explain_crops(tiny_model, tiny_model.cfg, _crops(3), IGSettings(n_steps=50))
    forward = BgrModel(tiny_model, tiny_model.cfg, "probability")
    for attr in attrs:
        x = torch.from_numpy(attr.crop.astype(np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            expected = float(forward(x)[0, attr.target] - forward(torch.zeros_like(x))[0, attr.target])
        assert attr.crop.shape == (32, 32, 3)  # resized to the model's input
        assert attr.converged and attr.gap <= 0.05
        assert abs(attr.total - expected) <= 0.05 * max(abs(expected), 0.01)
        assert attr.target == attr.predicted == int(np.argmax(attr.probabilities))


def test_steps_double_until_the_gap_is_small(tiny_model):
    attrs = explain_crops(tiny_model, tiny_model.cfg, _crops(3), IGSettings(n_steps=4, tolerance=0.05))
    first_gaps = [a.attempts[0][1] for a in attrs]
    assert max(first_gaps) > 0.05  # 4 steps are not enough for some crop here
    for attr in attrs:
        assert attr.converged and attr.gap <= 0.05
        assert [s for s, _ in attr.attempts] == [4 * 2**k for k in range(len(attr.attempts))]
    assert max(a.steps for a in attrs) > 4


def test_logit_output_and_other_baselines(tiny_model):
    crops = _crops(2, seed=1)
    attrs = explain_crops(tiny_model, tiny_model.cfg, crops, IGSettings(output="logit", baseline="blur"))
    assert all(a.output == "logit" and a.gap <= 0.05 for a in attrs)
    pain = explain_crops(tiny_model, tiny_model.cfg, crops, IGSettings(target="pain", n_steps=16))
    assert [a.target_label for a in pain] == ["pain", "pain"]
    with pytest.raises(ValueError, match="target"):
        explain_crops(tiny_model, tiny_model.cfg, crops, IGSettings(target="sleepy"))
    noise_a = make_baseline(crops[0], "noise", seed=3, index=5)
    assert np.array_equal(noise_a, make_baseline(crops[0], "noise", seed=3, index=5))
    assert not np.array_equal(noise_a, make_baseline(crops[0], "noise", seed=3, index=6))
    assert make_baseline(crops[0], "blur").std() < crops[0].astype(np.float32).std()


def test_regions_follow_known_landmarks():
    layout = place_regions(LANDMARKS, 100)
    mouth_mid = (LANDMARKS[3] + LANDMARKS[4]) / 2
    assert layout.masks["mouth"][int(mouth_mid[1]), int(mouth_mid[0])]
    for eye in LANDMARKS[:2]:
        assert layout.masks["eyes"][int(eye[1]), int(eye[0])]
    brow_rows = np.nonzero(layout.masks["brow"])[0]
    assert brow_rows.size and brow_rows.max() < 50  # wholly above the eyes
    chin_rows = np.nonzero(layout.masks["chin"])[0]
    assert chin_rows.min() > mouth_mid[1]
    naso_cols = np.nonzero(layout.masks["nasolabial"])[1]
    assert naso_cols.min() < 45 and naso_cols.max() > 55  # one fold each side of the nose
    stacked = np.stack([layout.masks[r] for r in REGIONS])
    assert stacked.sum(axis=0).max() == 1  # disjoint
    assert layout.clipped == []


def test_regions_turn_with_the_face():
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (LANDMARKS - 50) @ rot.T + 50
    layout = place_regions(points, 100)
    mouth_mid = (points[3] + points[4]) / 2
    assert layout.masks["mouth"][round(mouth_mid[1]), round(mouth_mid[0])]
    eye_mid = (points[0] + points[1]) / 2
    down = (mouth_mid - eye_mid) / np.linalg.norm(mouth_mid - eye_mid)
    ys, xs = np.nonzero(layout.masks["brow"])
    assert float(((np.stack([xs, ys], 1) - eye_mid) @ down).max()) < 0  # brow on the far side of the eyes


def test_region_outside_the_crop_is_clipped_and_flagged():
    high = LANDMARKS - np.array([0.0, 45.0])  # eyes at y = 5: the forehead leaves the crop
    layout = place_regions(high, 100)
    assert "brow" in layout.clipped and 0 < layout.visible["brow"] < 1
    assert layout.visible["mouth"] == pytest.approx(1.0)
    gone = place_regions(LANDMARKS + np.array([0.0, 200.0]), 100)  # the whole face below the crop
    assert gone.visible["brow"] == 0 and not gone.masks["brow"].any() and set(gone.clipped) == set(REGIONS)


def test_region_masks_are_those_place_regions_paints():
    rng = np.random.default_rng(4)
    for trial in range(60):
        angle = np.radians(rng.uniform(-60, 60))
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        # Some faces reach past the crop's edges, so clipped regions are compared too.
        points = (LANDMARKS - 50) @ rot.T * rng.uniform(0.6, 2.5) + 50 + rng.normal(0, 20, 2)
        layout = place_regions(points, (96, 90))
        for wanted in (("eyes", "mouth"), ("mouth",), ("chin",), ("brow", "eyes")):
            masks = region_masks(points, (96, 90), wanted)
            assert list(masks) == list(wanted)
            for region in wanted:
                assert np.array_equal(masks[region], layout.masks[region]), (trial, region)
    with pytest.raises(ValueError, match="unknown region 'cheeks'"):
        region_masks(LANDMARKS, 100, ("eyes", "cheeks"))


def test_clipped_region_is_flagged_in_the_row(tiny_model):
    from neopain.explain.inputs import Item
    from neopain.explain.run import score_item

    crop = _crops(1, seed=2, size=32)[0]
    attr = explain_crops(tiny_model, tiny_model.cfg, [crop], IGSettings(n_steps=8, max_steps=8))[0]
    high = (LANDMARKS - np.array([0.0, 45.0])) * 0.32  # the same face, 32 px crop, forehead cut off
    row, polygons = score_item(Item("x.png", crop, high, "landmarks"), attr)
    assert "brow" in row["clipped"].split(";") and row["visible_brow"] < 1
    assert polygons is not None and all(np.all(p >= -0.5) for p in polygons["brow"])


def test_shares_against_a_true_mask():
    positive = np.zeros((10, 10))
    positive[0:2, :] = 1.0  # 20 in the brow rows
    positive[8:10, :] = 3.0  # 60 in the mouth rows
    mask = np.zeros((10, 10), np.uint8)
    mask[0:2, :] = region_bit("brow")
    mask[8:10, :] = region_bit("mouth")
    present = present_regions({"open_lips": 1, "brow_bulge": 0})
    assert present == ["mouth"]
    shares = mask_shares(positive, mask, present)
    assert shares["true_present"] == pytest.approx(60 / 80)
    assert shares["true_any"] == pytest.approx(1.0)
    assert np.array_equal(positive_map(np.stack([positive, -positive, positive], -1)), positive)


def test_smoothing_cancels_speckle_but_keeps_a_coherent_blob_and_the_sum() -> None:
    rng = np.random.default_rng(0)
    speckle = rng.normal(0.0, 1.0, (64, 64)).astype(np.float32)  # noise x gradient: no net evidence
    blob = np.zeros((64, 64), np.float32)
    blob[28:36, 28:36] = 4.0  # 256 of real evidence in the middle
    signed = (speckle + blob)[..., None]
    inside = np.zeros((64, 64), bool)
    inside[24:40, 24:40] = True

    def share(smooth: float) -> float:
        pos = positive_map(signed, smooth)
        return float(pos[inside].sum() / pos.sum())

    assert share(0.0) < 0.25  # the positive half of the speckle everywhere swamps the blob
    assert share(0.05) > 0.55
    blurred = positive_map(blob[..., None], 0.05)  # non-negative map: blurring keeps its sum
    assert blurred.sum() == pytest.approx(blob.sum(), rel=1e-3)
    with pytest.raises(ValueError, match="smooth"):
        IGSettings(smooth=0.6)


def _checkpoint(model, path: Path, with_config: bool = True) -> Path:
    ckpt = {
        "model": model.state_dict(),
        "config": model.cfg.to_dict(),
        "optimizer": None,
        "epoch": 1,
        "phase": 1,
        "history": [],
        "manifest_hash": "test",
        "seed": 0,
    }
    if not with_config:
        del ckpt["config"]
        torch.save(ckpt, path)
        return path
    return save_checkpoint(path, ckpt)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("explain")
    images = root / "images"
    images.mkdir()
    config = SynthConfig(size=128)
    rendered = render_image(config, identity_for(config, 1), 1, 0)  # YuNet finds this face
    cv2.imwrite(str(images / "a_face.png"), rendered.image)
    cv2.imwrite(str(images / "b_blank.png"), np.full((96, 96, 3), 128, np.uint8))
    (images / "c_broken.jpg").write_bytes(b"not a jpeg")
    return root, _checkpoint(tiny_model, root / "best.pt")


def test_folder_run_writes_pictures_csv_and_html(folder):
    import neopain.cli.explain  # noqa: F401  (registers the command)
    from neopain.cli.apps import app

    root, ckpt = folder
    out = root / "out"
    result = CliRunner().invoke(
        app, ["explain", str(ckpt), str(root / "images"), "--out", str(out), "--steps", "16"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "regions.csv").open()))
    by_input = {r["input"]: r for r in rows}
    assert by_input["a_face.png"]["status"] == "ok" and by_input["a_face.png"]["layout"] == "detector"
    assert float(by_input["a_face.png"]["gap"]) <= 0.05
    assert by_input["b_blank.png"]["status"] == "failed" and "no face" in by_input["b_blank.png"]["reason"]
    assert by_input["c_broken.jpg"]["status"] == "failed"
    assert (out / by_input["a_face.png"]["picture"]).is_file() and (out / "images" / "ig_00000.png").is_file()
    assert (out / "grid_001.png").is_file()
    html = (out / "index.html").read_text()
    assert "data:image/png;base64," in html and "b_blank.png" in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["explained"] == 1 and len(summary["failed"]) == 2


def test_faces_manifest_with_masks_scores_true_regions(folder, tmp_path):
    _, ckpt = folder
    config = SynthConfig(size=128)
    crops = tmp_path / "crops"
    crops.mkdir()
    for k in range(2):
        img = render_image(config, identity_for(config, 2), 2, k)
        x, y, w, h = img.box
        side, cx, cy = max(w, h) * 1.5, x + w / 2, y + h / 2
        affine = np.array([[64 / side, 0, 31.5 - cx * 64 / side], [0, 64 / side, 31.5 - cy * 64 / side]])
        cv2.imwrite(str(crops / f"{k}.png"), cv2.warpAffine(img.image, affine, (64, 64)))
        cv2.imwrite(
            str(crops / f"{k}_m.png"), cv2.warpAffine(img.mask, affine, (64, 64), flags=cv2.INTER_NEAREST)
        )
    header = (
        "path,subject,label,box_x,box_y,box_w,box_h,nfcs_brow_bulge,nfcs_eye_squeeze,nfcs_nasolabial_furrow,"
        "nfcs_open_lips,nfcs_mouth_stretch_vertical,nfcs_mouth_stretch_horizontal,nfcs_taut_tongue,"
        "nfcs_tongue_protrusion,nfcs_chin_quiver,source_path,mask_path\n"
    )
    lines = [
        f"crops/{k}.png,s2,pain,40,40,60,60,1,1,0,1,0,0,0,0,0,src{k}.png,crops/{k}_m.png\n" for k in range(2)
    ]
    manifest = tmp_path / "faces.csv"
    manifest.write_text(header + "".join(lines))
    from neopain.explain.run import RunOptions, run_explain

    run = run_explain(
        ckpt, [manifest], tmp_path / "out", RunOptions(ig=IGSettings(n_steps=16), detector="box")
    )
    rows = run.rows
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["layout"] == "canonical" and r["present_regions"] == "brow;eyes;mouth" for r in rows)
    assert all(0.0 <= r["true_present"] <= r["true_any"] <= 1.0 for r in rows)
    assert run.summary["by_label"]["pain"]["true_present_mean"] is not None


def test_checkpoint_without_config_is_a_clear_error(tiny_model, tmp_path):
    from neopain.explain.run import run_explain

    bad = _checkpoint(tiny_model, tmp_path / "noconfig.pt", with_config=False)
    with pytest.raises(CheckpointError, match="config"):
        run_explain(bad, [tmp_path], tmp_path / "out")


def test_launcher_imports_no_torch_and_worker_explains_a_crop(folder, tmp_path):
    code = "import sys, neopain.explain.service; assert 'torch' not in sys.modules and 'captum' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    from neopain.explain.service import ExplainServiceError, explain_record

    root, ckpt = folder
    out_png = tmp_path / "record.png"
    result = explain_record(ckpt, root / "images" / "a_face.png", out_png, timeout=120, crop=True, steps=16)
    assert out_png.is_file() and result["gap"] <= 0.05 and result["predicted"] in ("no_pain", "pain")
    assert result["baseline"] == "blur"  # the bedside default
    black = explain_record(ckpt, root / "images" / "a_face.png", out_png, timeout=120, crop=True, baseline="black")
    assert black["baseline"] == "black" and black["probability"] == pytest.approx(result["probability"])
    with pytest.raises(ExplainServiceError, match="no face"):
        explain_record(ckpt, root / "images" / "b_blank.png", tmp_path / "x.png", timeout=120)
