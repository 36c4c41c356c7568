"""The synthetic benchmark: determinism, a valid manifest, labels from actions, masks where actions show."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data.manifest import read_manifest, resolve_path
from neopain.data.synth_draw import Canvas, Light
from neopain.data.synth_face import EXTENT, render_head
from neopain.data.synth_identity import Expression
from neopain.data.synthetic import SynthConfig, identity_for, render_image, sample_expression, synthesize
from neopain.pixels.imageio import read_image
from neopain.scales.nfcs import ACTION_REGION, ACTIONS, PAIN_THRESHOLD, REGIONS, region_bit

SMALL = {"subjects": 3, "images_per_subject": 4, "size": 96}


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("syn") / "a", seed=0, **SMALL)


def test_same_seed_gives_identical_bytes(small_set: Path, tmp_path: Path) -> None:
    again = synthesize(tmp_path / "b", seed=0, **SMALL)
    first, second = _digest(small_set.parent), _digest(again.parent)
    assert len(first) == 1 + 2 * 12
    assert first == second
    # Rendered by two worker processes: the same files, the manifest in the same order.
    assert _digest(synthesize(tmp_path / "two", seed=0, workers=2, **SMALL).parent) == first


def test_other_seed_gives_other_images(small_set: Path, tmp_path: Path) -> None:
    other = synthesize(tmp_path / "c", seed=1, **SMALL)
    first, second = _digest(small_set.parent), _digest(other.parent)
    images = [k for k in first if k.startswith("images/")]
    assert sum(first[k] != second[k] for k in images) == len(images)


def test_an_image_does_not_depend_on_generation_order(small_set: Path) -> None:
    config = SynthConfig(seed=0, **SMALL)
    alone = render_image(config, identity_for(config, 3), 3, 2)
    on_disk = read_image(small_set.parent / "images" / "s03_02.png")
    assert np.array_equal(alone.image, on_disk)


def test_manifest_reads_back_and_matches_files(small_set: Path) -> None:
    samples = read_manifest(small_set)
    assert len(samples) == 12
    assert {s.subject for s in samples} == {"syn0_01", "syn0_02", "syn0_03"}
    for s in samples:
        assert s.dataset == "synthetic" and s.stimulus in ("pain", "rest") and s.sex in ("M", "F")
        assert s.label in ("pain", "no_pain")
        assert s.actions is not None and set(s.actions) == set(ACTIONS)
        assert s.nfcs_score == sum(s.actions.values())
        assert read_image(resolve_path(small_set, s.path)).shape == (96, 96, 3)
        assert resolve_path(small_set, s.mask_path).is_file()
    # Each subject keeps one sex: it is part of the identity.
    assert all(
        len({s.sex for s in samples if s.subject == subj}) == 1 for subj in ("syn0_01", "syn0_02", "syn0_03")
    )


def test_boxes_inside_image_and_masks_inside_boxes(small_set: Path) -> None:
    import cv2

    for s in read_manifest(small_set):
        x, y, w, h = s.box
        assert x >= 0 and y >= 0 and x + w <= 96 and y + h <= 96, s.path
        assert 0.25 * 96 < w < 0.75 * 96, s.path
        mask = cv2.imread(str(resolve_path(small_set, s.mask_path)), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.ndim == 2
        assert mask.max() < (1 << len(REGIONS))
        for region in REGIONS:
            ys, xs = np.nonzero(mask & region_bit(region))
            assert len(xs) > 0, f"{s.path}: region {region} missing"
            assert xs.min() >= x - 0.5 and xs.max() <= x + w + 0.5, f"{s.path}: {region} outside the box"
            assert ys.min() >= y - 0.5 and ys.max() <= y + h + 0.5, f"{s.path}: {region} outside the box"


def test_without_noise_labels_follow_nfcs_exactly(tmp_path: Path) -> None:
    samples = read_manifest(synthesize(tmp_path / "clean", seed=3, label_noise=0.0, **SMALL))
    for s in samples:
        assert s.label == ("pain" if s.nfcs_score >= PAIN_THRESHOLD else "no_pain"), s.path


def test_label_noise_flips_labels_and_leaves_images_alone(tmp_path: Path) -> None:
    kwargs = {"subjects": 4, "images_per_subject": 10, "size": 48, "seed": 5}
    clean = synthesize(tmp_path / "clean", label_noise=0.0, **kwargs)
    noisy = synthesize(tmp_path / "noisy", label_noise=0.3, **kwargs)
    flips = [a.label != b.label for a, b in zip(read_manifest(clean), read_manifest(noisy))]
    assert 0.1 <= np.mean(flips) <= 0.55
    clean_images = {k: v for k, v in _digest(clean.parent).items() if k.startswith("images/")}
    noisy_images = {k: v for k, v in _digest(noisy.parent).items() if k.startswith("images/")}
    assert clean_images == noisy_images


def test_latent_state_drives_actions_and_classes_are_balanced() -> None:
    rng = np.random.default_rng(0)
    pain_counts, rest_counts, labels = [], [], []
    for i in range(1500):
        pain = i % 2 == 0
        count = sum(sample_expression(rng, pain).present().values())
        (pain_counts if pain else rest_counts).append(count)
        labels.append(count >= PAIN_THRESHOLD)
    assert np.mean(pain_counts) > 3 * np.mean(rest_counts)
    assert 0.35 <= np.mean(labels) <= 0.65
    # Some pain-state faces stay below the threshold: the task has borderline cases.
    assert 0.02 < np.mean(np.array(pain_counts) < PAIN_THRESHOLD) < 0.4


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_changes_pixels_inside_its_region(action: str) -> None:
    config = SynthConfig(seed=0)
    ident = identity_for(config, 2)
    canvas = Canvas(ppu=40.0, extent=EXTENT)
    light = Light((0.3, -0.5, 1.0), 0.4, 0.05)
    extra = (
        {"open_lips": 0.6} if action in ("mouth_stretch_vertical", "taut_tongue", "tongue_protrusion") else {}
    )
    before = render_head(ident, Expression(intensity=dict(extra)), canvas, light, np.random.default_rng(1))
    after = render_head(
        ident, Expression(intensity={**extra, action: 0.8}), canvas, light, np.random.default_rng(1)
    )
    change = np.abs(after.rgb - before.rgb).sum(axis=2) * after.alpha
    region = ((after.mask | before.mask) & region_bit(ACTION_REGION[action])) > 0
    assert change.sum() > 5.0, f"{action} barely changes the face"
    assert change[region].sum() / change.sum() > 0.5, f"{action} shows mostly outside its region"


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="label_noise"):
        SynthConfig(label_noise=0.9)
    with pytest.raises(ValueError, match="subjects"):
        SynthConfig(subjects=0)


def test_cli_writes_a_manifest_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = [
        "data",
        "synth",
        "--out",
        str(out),
        "--subjects",
        "2",
        "--images-per-subject",
        "3",
        "--seed",
        "4",
        "--size",
        "64",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    samples = read_manifest(out / "manifest.csv")
    assert len(samples) == 6
    counts = {label: sum(s.label == label for s in samples) for label in ("pain", "no_pain")}
    assert f"{sum(counts.values())} images of 2 subjects" in result.output
    for label, count in counts.items():
        assert bool(re.search(rf"(?<!_){label}: {count}\b", result.output)) == (count > 0), result.output
    bad = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path / "x"), "--label-noise", "0.9"])
    assert bad.exit_code != 0
