"""The detector's second look at a frame without a face, its light evened out (issue 19): the lamps' blue,
a night camera's grain and a mask's low contrast no longer hide most faces; the crop stays the frame's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data import read_manifest, resolve_path
from neopain.data.synthetic import PRESETS, SynthConfig, generate
from neopain.export import export_checked
from neopain.faces import Face, create_detector, evened_for_detection, extract_faces
from neopain.faces.enhance import confirmed_by_mirror, grey_world
from neopain.inference import Predictor, look_again_under_lights
from neopain.pixels.imageio import read_image
from tests._export_helpers import make_checkpoint, on_canvas


def test_grey_world_removes_a_colour_cast_and_keeps_the_frame() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(40, 200, (60, 80, 3)).astype(np.float64)
    blue = np.clip(frame * (1.45, 0.72, 0.42), 0, 255).astype(np.uint8)  # BGR: the lamps' cast
    means = grey_world(blue).reshape(-1, 3).mean(axis=0)
    assert means.max() - means.min() < 2.0 and np.ptp(blue.reshape(-1, 3).mean(axis=0)) > 40
    evened = evened_for_detection(blue)
    assert evened.shape == blue.shape and evened.dtype == np.uint8
    flat = np.full((40, 40, 3), 90, np.uint8)
    assert evened_for_detection(flat).std() < 1.0  # nothing to even out invents no structure


HARD = ("phototherapy", "infrared")


@pytest.fixture(scope="module")
def nicu_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = SynthConfig(subjects=6, images_per_subject=12, seed=6001, **PRESETS["nicu"])  # type: ignore[arg-type]
    return generate(tmp_path_factory.mktemp("nicu") / "nicu", config)


@pytest.fixture(scope="module")
def ward_pictures(tmp_path_factory: pytest.TempPathFactory, nicu_manifest: Path) -> tuple[Path, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("second_look")
    model = export_checked(make_checkpoint(folder), folder / "m.onnx").path
    manifest, hard = nicu_manifest, HARD
    frames = [read_image(resolve_path(manifest, s.path)) for s in read_manifest(manifest)
              if set(s.conditions) & set(hard)]
    assert len(frames) >= 8
    return model, frames


def test_the_second_look_finds_faces_the_first_missed(ward_pictures) -> None:
    model, frames = ward_pictures
    looking = Predictor.from_files(model)
    once = Predictor.from_files(model)
    once.second_look = False
    found_once = [once.assess(f).box is not None for f in frames]
    found_twice = [looking.assess(f).box is not None for f in frames]
    assert all(b for a, b in zip(found_once, found_twice) if a)  # a face found at first stays found
    assert sum(found_twice) > sum(found_once), (sum(found_once), sum(found_twice))


def test_the_crop_is_cut_from_the_frame_as_it_is(ward_pictures) -> None:
    model, frames = ward_pictures
    looking = Predictor.from_files(model)
    once = Predictor.from_files(model)
    once.second_look = False
    for frame in frames:
        if once.assess(frame).box is None:
            result = looking.assess(frame)
            if result.crop is not None:
                # The evened copy is only for the detector: the crop keeps the frame's own colours.
                evened = evened_for_detection(frame)
                frame_mean, evened_mean = frame.reshape(-1, 3).mean(0), evened.reshape(-1, 3).mean(0)
                crop_mean = result.crop.reshape(-1, 3).mean(0)
                assert np.abs(crop_mean - frame_mean).sum() < np.abs(crop_mean - evened_mean).sum()
                return
    pytest.fail("no frame was found by the second look only")


def test_a_face_counts_only_when_the_mirror_shows_it_again() -> None:
    face = Face(10, 20, 50, 60, score=0.8)
    width = 200
    mirrored_again = Face(width - 10 - 50 + 3, 21, 50, 60, score=0.7)  # the same face, seen mirrored
    elsewhere = Face(10, 20, 50, 60, score=0.9)  # mirrored, this box is on the other side of the frame
    assert confirmed_by_mirror([face], [mirrored_again], width) == [face]
    assert confirmed_by_mirror([face], [elsewhere], width) == []
    assert confirmed_by_mirror([face], [], width) == [] and confirmed_by_mirror([], [mirrored_again], width) == []


def test_no_second_look_without_the_wards_light(ward_pictures) -> None:
    """A frame in white light with no face (skimage's coffee cup, in which YuNet sees a face once the frame
    is evened) stays without one: only the lamps' light or a night camera's grey explains a miss."""
    import skimage.data

    model, _ = ward_pictures
    coffee = np.ascontiguousarray(skimage.data.coffee()[..., ::-1])
    assert evened_for_detection(coffee).shape == coffee.shape
    result = Predictor.from_files(model).assess(coffee)
    assert result.box is None and result.reason == "no_face"


def test_the_mirror_check_leaves_a_followed_clip_alone(ward_pictures) -> None:
    model, _ = ward_pictures
    predictor = Predictor.from_files(model, rotations="follow")
    from tests._export_helpers import astronaut_bgr

    frame = on_canvas(astronaut_bgr(), scale=0.6)
    assert predictor.assess(frame).box is not None
    followed = predictor.detector.memory()
    assert followed is not None
    predictor._detect_aside(np.ascontiguousarray(frame[:, ::-1]))
    assert predictor.detector.memory() is followed


def test_faces_extract_takes_the_second_look_too(nicu_manifest: Path, tmp_path: Path) -> None:
    """Training crops are cut as the bedside finds faces: a lamp-lit or night picture YuNet misses at first
    is looked at again; the cache keeps the two answers apart; a white-light miss is not looked at."""
    detector = create_detector("yunet")
    look = look_again_under_lights(detector)
    cache = tmp_path / "cache"
    plain = extract_faces(nicu_manifest, tmp_path / "plain", detector=detector, cache_dir=cache)
    looked = extract_faces(nicu_manifest, tmp_path / "looked", detector=detector, cache_dir=cache, look_again=look)
    assert looked.found > plain.found and looked.total == plain.total
    before = {s.key for s in read_manifest(tmp_path / "plain" / "faces.csv")}
    after = read_manifest(tmp_path / "looked" / "faces.csv")
    assert before <= {s.key for s in after}
    gained = [s for s in after if s.key not in before]
    assert gained and all(set(s.conditions) & set(HARD) for s in gained)
    import skimage.data

    coffee = np.ascontiguousarray(skimage.data.coffee()[..., ::-1])
    assert look(coffee) == []


def test_faces_extract_finds_the_faces_the_bedside_finds(nicu_manifest: Path, tmp_path: Path) -> None:
    """On pictures rolled over the full circle, `--rotations always` (the bedside's search) finds more faces
    than the upright detector, and the second look more again; crop.json names the search."""
    def found(name: str, *options: str) -> int:
        out = tmp_path / name
        args = ["faces", "extract", str(nicu_manifest), "--out", str(out), "--size", "64",
                "--cache-dir", str(tmp_path / "cache"), *options]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return len(read_manifest(out / "faces.csv"))

    upright = found("upright", "--no-second-look")
    turned = found("turned", "--rotations", "always", "--no-second-look")
    looked = found("looked", "--rotations", "always")
    assert upright < turned < looked, (upright, turned, looked)
    assert '"detector": "yunet+turns"' in (tmp_path / "turned" / "crop.json").read_text()
