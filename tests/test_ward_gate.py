"""The ward's gate (issue 19): phototherapy light, infrared, eyes hidden, mouth covered, named instead of
guessed past; read through by a model trained on the condition; measured on synthetic nicu faces."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from neopain.data import Sample
from neopain.data.synthetic import PRESETS, SynthConfig, identity_for, render_image
from neopain.export import export_checked
from neopain.faces import CropSettings, create_detector, crop_with, transform_points
from neopain.inference import META_CONDITIONS, Predictor, frame_light, read_ward
from neopain.scales.nfcs import ACTION_REGION
from tests._export_helpers import astronaut_bgr, make_checkpoint, nfcs_checkpoint, on_canvas


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    folder = tmp_path_factory.mktemp("ward")
    return Predictor.from_files(export_checked(make_checkpoint(folder, steps=0), folder / "m.onnx").path)


@pytest.fixture(scope="module")
def nfcs_predictor(tmp_path_factory) -> Predictor:
    folder = tmp_path_factory.mktemp("ward-nfcs")
    checkpoint, _ = nfcs_checkpoint(folder, steps=2)
    return Predictor.from_files(export_checked(checkpoint, folder / "m.onnx").path)


def _trained_on(predictor: Predictor, *conditions: str) -> None:
    predictor.classifier.metadata[META_CONDITIONS] = json.dumps(list(conditions))


def _astronaut_landmarks(predictor: Predictor) -> tuple[np.ndarray, np.ndarray]:
    frame = on_canvas(astronaut_bgr())
    result = predictor.assess(frame)
    assert result.ok and result.landmarks is not None
    return frame, np.asarray(result.landmarks)


def _cover(frame: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], part: str) -> np.ndarray:
    out = frame.copy()
    eye_gap = float(np.hypot(*(points[1] - points[0])))
    if part == "eyes":
        for eye in points[:2]:
            cv2.ellipse(out, tuple(int(v) for v in eye), (int(0.45 * eye_gap), int(0.3 * eye_gap)), 0, 0, 360, colour, -1)
    else:
        centre = (points[3] + points[4]) / 2
        cv2.ellipse(out, tuple(int(v) for v in centre), (int(0.6 * eye_gap), int(0.4 * eye_gap)), 0, 0, 360, colour, -1)
    return out


def test_a_real_face_passes_and_its_lights_are_named(predictor: Predictor) -> None:
    frame, _ = _astronaut_landmarks(predictor)
    assert predictor.assess(frame).ward.findings == ()
    blue = np.clip(frame * np.array([1.5, 0.75, 0.45]), 0, 255).astype(np.uint8)  # BGR: the lamps
    assert predictor.assess(blue).reason == "phototherapy_light"
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    result = predictor.assess(grey)
    assert result.status == "no_assessment" and result.reason == "infrared"


def test_a_model_trained_under_a_light_reads_through_it(tmp_path: Path) -> None:
    model = export_checked(make_checkpoint(tmp_path, steps=0), tmp_path / "m.onnx").path
    trained = Predictor.from_files(model)
    _trained_on(trained, "phototherapy", "eye_shields")
    frame, _ = _astronaut_landmarks(trained)
    blue = np.clip(frame * np.array([1.5, 0.75, 0.45]), 0, 255).astype(np.uint8)
    result = trained.assess(blue)
    assert result.ok and result.ward.findings == ("phototherapy_light",)


def test_hidden_eyes_and_a_covered_mouth_are_named(predictor: Predictor) -> None:
    frame, points = _astronaut_landmarks(predictor)
    shields = predictor.assess(_cover(frame, points, (60, 30, 20), "eyes"))
    assert shields.reason == "eyes_hidden"
    mask = predictor.assess(_cover(frame, points, (245, 240, 235), "mouth"))
    assert mask.reason == "mouth_covered"


def test_an_nfcs_model_trained_with_shields_leaves_only_the_eye_items_unread(nfcs_predictor: Predictor) -> None:
    _trained_on(nfcs_predictor, "eye_shields")
    frame, points = _astronaut_landmarks(nfcs_predictor)
    result = nfcs_predictor.assess(_cover(frame, points, (60, 30, 20), "eyes"))
    assert result.ok and "eyes_hidden" in result.ward.findings
    unread = {a for a, r in result.nfcs.actions.items() if not r.assessable}
    assert unread == {a for a in nfcs_predictor.config.actions if ACTION_REGION[a] == "eyes"}
    assert result.nfcs.items_read == len(nfcs_predictor.config.actions) - len(unread)


def test_a_frame_without_a_face_says_its_light() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(60, 200, (240, 320, 3), dtype=np.uint8)
    assert frame_light(noise) is None
    assert frame_light(np.clip(noise * np.array([2.0, 0.8, 0.5]), 0, 255).astype(np.uint8)) == "phototherapy_light"
    grey = cv2.cvtColor(cv2.cvtColor(noise, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert frame_light(grey) == "infrared"


def test_on_synthetic_nicu_faces_conditions_get_their_finding_and_clean_faces_none() -> None:
    config = SynthConfig(subjects=8, images_per_subject=10, size=160, seed=3, **PRESETS["nicu"])  # type: ignore[arg-type]
    clean = SynthConfig(subjects=8, images_per_subject=10, size=160, seed=3)
    box = create_detector("box")
    found: dict[str, list[bool]] = {"phototherapy": [], "infrared": [], "eye_shields": [], "clean": []}
    for cfg in (config, clean):
        for subject in range(1, 9):
            for k in range(10):
                im = render_image(cfg, identity_for(cfg, subject), subject, k)
                face = box.detect_sample(im.image, Sample("a", "s", box=im.box, landmarks=im.landmarks))[0]
                crop, affine = crop_with(im.image, face, CropSettings(size=112))
                ward = read_ward(crop, transform_points(affine, face.landmarks))
                if cfg is clean and not im.hidden:
                    found["clean"].append(bool(ward.findings))
                for condition, finding in (("phototherapy", "phototherapy_light"), ("infrared", "infrared"),
                                           ("eye_shields", "eyes_hidden")):
                    if condition in im.conditions:
                        found[condition].append(finding in ward.findings)
    assert all(len(v) >= 8 for v in found.values()), {k: len(v) for k, v in found.items()}
    assert np.mean(found["phototherapy"]) == 1.0 and np.mean(found["infrared"]) == 1.0
    assert np.mean(found["eye_shields"]) >= 0.85
    assert np.mean(found["clean"]) <= 0.03


def test_a_blank_grey_frame_is_no_face_not_infrared() -> None:
    assert frame_light(np.full((240, 320, 3), 128, np.uint8)) is None


@pytest.mark.parametrize("turn", [None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_real_colour_photographs_pass_the_gates_at_every_quarter_turn(predictor: Predictor, turn) -> None:
    from matplotlib import cbook

    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), cv2.IMREAD_COLOR)
    for photo in (on_canvas(astronaut_bgr()), hopper):
        frame = photo if turn is None else cv2.rotate(photo, turn)
        result = predictor.assess(frame)
        assert result.ok, (result.reason, result.ward)
        assert result.ward.findings == ()
