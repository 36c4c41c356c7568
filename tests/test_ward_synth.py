"""The ward's conditions on synthetic faces (issue 19): the manifest's new fields, the nicu preset's
occluders and lights, the regions they hide, the landmarks that roll the crop upright."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from neopain.data import Sample, manifest_hash, nfcs_table, read_manifest, write_manifest
from neopain.data.manifest import LANDMARK_COLUMNS, ManifestError
from neopain.data.synthetic import PRESETS, SynthConfig, identity_for, render_image, synthesize
from neopain.faces import CropSettings, create_detector, crop_with
from neopain.faces.crop import eye_angle
from neopain.pixels.imageio import read_image
from neopain.scales.nfcs import ACTIONS

NICU = SynthConfig(subjects=6, images_per_subject=10, size=128, **PRESETS["nicu"])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def nicu_images():
    return [render_image(NICU, identity_for(NICU, s), s, k) for s in range(1, 7) for k in range(10)]


def _with(images, condition: str):
    chosen = [im for im in images if condition in im.conditions]
    assert chosen, f"the nicu preset drew no '{condition}' in 60 images"
    return chosen


def test_manifest_round_trips_landmarks_conditions_and_hidden(tmp_path: Path) -> None:
    sample = Sample("a.png", "s1", box=(1, 2, 30, 30), landmarks=tuple(float(v) for v in range(10)),
                    conditions=("phototherapy", "eye_shields"), hidden=("eyes",))
    write_manifest([sample, Sample("b.png", "s1")], tmp_path / "m.csv")
    back = read_manifest(tmp_path / "m.csv")
    assert back[0].landmarks == sample.landmarks and back[0].conditions == sample.conditions
    assert back[0].hidden == ("eyes",) and back[1].landmarks is None and back[1].hidden == ()


def test_plain_manifests_keep_their_columns_and_hash(tmp_path: Path) -> None:
    plain = [Sample("a.png", "s1", label="pain"), Sample("b.png", "s2", label="no_pain")]
    write_manifest(plain, tmp_path / "m.csv")
    header = (tmp_path / "m.csv").read_text().splitlines()[0]
    assert "lm_nose_x" not in header and "conditions" not in header
    assert manifest_hash(plain) == manifest_hash(read_manifest(tmp_path / "m.csv"))


@pytest.mark.parametrize(
    ("cells", "field"),
    [({"lm_nose_x": "3"}, "lm_right_eye_x"), ({"hidden": "eyes;ears"}, "hidden"),
     ({"conditions": "Photo Therapy"}, "conditions")],
)
def test_bad_face_fields_name_row_and_field(tmp_path: Path, cells: dict[str, str], field: str) -> None:
    columns = ["path", "subject", *LANDMARK_COLUMNS, "conditions", "hidden"]
    row = {c: "" for c in columns} | {"path": "a.png", "subject": "s1"} | cells
    (tmp_path / "m.csv").write_text(",".join(columns) + "\n" + ",".join(row[c] for c in columns) + "\n")
    with pytest.raises(ManifestError, match=f"row 2, field '{field}'"):
        read_manifest(tmp_path / "m.csv")


def test_a_hidden_region_leaves_its_actions_and_the_score_unknown() -> None:
    coded = dict.fromkeys(ACTIONS, 1)
    table = nfcs_table([Sample("a", "s", actions=coded, nfcs_score=10.0, hidden=("eyes",))], ACTIONS)
    assert np.isnan(table[0, ACTIONS.index("eye_squeeze")]) and np.isnan(table[0, -1])
    assert table[0, ACTIONS.index("brow_bulge")] == 1.0


def test_the_default_benchmark_draws_no_ward_condition() -> None:
    config = SynthConfig(subjects=2, images_per_subject=6, size=96)
    images = [render_image(config, identity_for(config, s), s, k) for s in (1, 2) for k in range(6)]
    ward = {"phototherapy", "infrared", "cpap_mask", "cpap_prongs", "pacifier", "tape", "caregiver_hand"}
    assert not any(ward & set(im.conditions) for im in images)


def test_eye_shields_hide_the_eyes_and_masks_or_pacifiers_the_mouth(nicu_images) -> None:
    assert all("eyes" in im.hidden for im in _with(nicu_images, "eye_shields"))
    covered = _with(nicu_images, "cpap_mask") + _with(nicu_images, "pacifier")
    assert np.mean(["mouth" in im.hidden for im in covered]) >= 0.9


def test_infrared_frames_are_grey_and_phototherapy_frames_blue(nicu_images) -> None:
    for im in _with(nicu_images, "infrared"):
        assert np.array_equal(im.image[..., 0], im.image[..., 2])
    for im in _with(nicu_images, "phototherapy"):
        b, _, r = im.image.reshape(-1, 3).mean(axis=0)
        assert b > 1.3 * r


def test_landmarks_sit_on_the_face_and_roll_the_crop_upright(nicu_images) -> None:
    angles = []
    for im in nicu_images:
        points = np.asarray(im.landmarks).reshape(5, 2)
        x, y, w, h = im.box
        assert ((points >= (x, y)) & (points <= (x + w, y + h))).all()
        faces = create_detector("box").detect_sample(im.image, Sample("a", "s", box=im.box, landmarks=im.landmarks))
        _, affine = crop_with(im.image, faces[0], CropSettings(size=64))
        upright = points @ affine[:, :2].T + affine[:, 2]
        assert upright[2, 1] > upright[0, 1] and upright[3, 1] > upright[2, 1]  # eyes, then nose, then mouth
        assert upright[0, 0] < upright[1, 0]  # the subject's right eye on the image's left
        angles.append(abs(eye_angle(faces[0])))
    assert max(angles) > 120  # the preset lies faces at any angle, upside down included


def test_the_nicu_preset_is_reproducible(tmp_path: Path) -> None:
    kwargs = {"subjects": 2, "images_per_subject": 3, "size": 64, "preset": "nicu"}
    first, second = synthesize(tmp_path / "a", **kwargs), synthesize(tmp_path / "b", **kwargs)
    assert first.read_bytes() == second.read_bytes()
    for row in read_manifest(first):
        a, b = (hashlib.sha256(read_image(m.parent / row.path).tobytes()).hexdigest() for m in (first, second))
        assert a == b
    with pytest.raises(ValueError, match="unknown synthetic preset"):
        synthesize(tmp_path / "c", preset="icu")


def test_crops_of_rolled_faces_match_their_upright_copy() -> None:
    """The same face at roll 0 and rolled: the upright crops of both agree far better than unaligned ones."""
    config = SynthConfig(subjects=1, images_per_subject=1, size=160, roll_max_deg=0.0, hand_rate=0,
                         tube_rate=0, finger_rate=0, blur_max=0, noise_max=0)
    im = render_image(config, identity_for(config, 1), 1, 0)
    rolled = cv2.warpAffine(im.image, cv2.getRotationMatrix2D((80, 80), 150, 1.0), (160, 160),
                            borderMode=cv2.BORDER_REPLICATE)
    matrix = cv2.getRotationMatrix2D((80, 80), 150, 1.0)
    points = np.asarray(im.landmarks).reshape(5, 2) @ matrix[:, :2].T + matrix[:, 2]
    box = (*points.min(axis=0) - 25, *(points.max(axis=0) - points.min(axis=0) + 50))
    detector = create_detector("box")
    crops = {}
    for align in (True, False):
        settings = CropSettings(size=64, align=align)
        upright = crop_with(im.image, detector.detect_sample(im.image, Sample("a", "s", box=box_of(im.landmarks),
                                                                             landmarks=im.landmarks))[0], settings)[0]
        turned = crop_with(rolled, detector.detect_sample(rolled, Sample("a", "s", box=tuple(box),
                                                                         landmarks=tuple(points.ravel())))[0], settings)[0]
        crops[align] = np.corrcoef(upright.ravel().astype(float), turned.ravel().astype(float))[0, 1]
    assert crops[True] > 0.8 > crops[False]


def box_of(landmarks) -> tuple[float, float, float, float]:
    points = np.asarray(landmarks).reshape(5, 2)
    low = points.min(axis=0) - 25
    return (*low, *(points.max(axis=0) + 25 - low))
