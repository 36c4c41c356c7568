"""RetinaFace fine-tuned on a manifest's faces (issue 19): upright examples, the anchors it learns from, a
short tuning that lowers its loss, and the ONNX file it writes served wherever a detector is named."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neopain.cli import app
from neopain.core.weights import resolve
from neopain.data import read_manifest, resolve_path, write_manifest
from neopain.data.synthetic import PRESETS, SynthConfig, generate
from neopain.export import export_checked
from neopain.faces import DetectorDataError, create_detector, tune_from_manifest
from neopain.faces.detector_training import (
    FACE_FREE_ANCHORS,
    NEGATIVES_PER_POSITIVE,
    match,
    multibox_loss,
    tune,
)
from neopain.faces.detector_tune import (
    FACE_FREE_PHOTOS,
    TuneConfig,
    augmented,
    epoch_pool,
    face_free_examples,
    load_examples,
    quarter_turn_to_upright,
    upright_example,
)
from neopain.faces.priors import decode_boxes, decode_landmarks, make_priors, preprocess
from neopain.faces.retinaface_net import load_retinaface
from neopain.pixels.imageio import read_image
from tests._export_helpers import make_checkpoint

SMALL = TuneConfig(epochs=3, batch_size=4, size=160, seed=0)


@pytest.fixture(scope="module")
def nicu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = SynthConfig(subjects=2, images_per_subject=6, size=160, seed=41, **PRESETS["nicu"])  # type: ignore[arg-type]
    return generate(tmp_path_factory.mktemp("tune") / "nicu", config)


def _eyes_at(roll_deg: float) -> np.ndarray:
    """Five landmarks of an upright face, rolled clockwise (image coordinates) by ``roll_deg``."""
    upright = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.8], [-0.7, 1.6], [0.7, 1.6]])
    a = math.radians(roll_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return upright @ rotation.T * 20 + 100


@pytest.mark.parametrize(("roll", "turn"), [(0, 0), (30, 0), (-40, 0), (90, 270), (170, 180), (-100, 90), (260, 90)])
def test_the_quarter_turn_brings_the_face_within_45_degrees_of_upright(roll: float, turn: int) -> None:
    assert quarter_turn_to_upright(_eyes_at(roll)) == turn


def test_examples_are_upright_and_keep_their_box_around_the_landmarks(nicu: Path) -> None:
    examples = load_examples(nicu)
    samples = read_manifest(nicu)
    assert len(examples) == len(samples)
    for example, sample in zip(examples, samples, strict=True):
        dx, dy = example.landmarks[1] - example.landmarks[0]
        assert abs(math.degrees(math.atan2(dy, dx))) <= 45.5, sample.path
        x, y, w, h = example.box
        assert (example.landmarks >= (x - 1, y - 1)).all() and (example.landmarks <= (x + w + 1, y + h + 1)).all()


def test_augmented_copies_mirror_the_landmark_order_and_stay_in_the_picture(nicu: Path) -> None:
    example = load_examples(nicu)[0]
    rng = np.random.default_rng(3)
    for _ in range(20):
        image, target = augmented(example, SMALL, rng)
        assert image.shape == (SMALL.size, SMALL.size, 3) and image.dtype == np.uint8
        x1, y1, x2, y2 = target[:4]
        points = target[4:].reshape(5, 2)
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert SMALL.face_min - 0.01 <= max(x2 - x1, y2 - y1) <= SMALL.face_max + 0.01
        # The subject's right eye stays on the image's left, mirrored or not.
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]


def test_the_matched_offsets_decode_back_to_the_face() -> None:
    priors = make_priors(160, 160)
    target = torch.tensor([0.3, 0.25, 0.7, 0.75, 0.4, 0.4, 0.6, 0.4, 0.5, 0.5, 0.42, 0.62, 0.58, 0.62])
    positive, loc, landms = match(torch.from_numpy(np.array(priors)), target)
    assert 0 < int(positive.sum()) < len(priors) // 10
    boxes = decode_boxes(loc[positive].numpy(), priors[positive.numpy()])
    points = decode_landmarks(landms[positive].numpy(), priors[positive.numpy()])
    assert np.allclose(boxes, target[:4].numpy(), atol=1e-5)
    assert np.allclose(points, target[4:].numpy().reshape(5, 2), atol=1e-5)


def test_tuning_lowers_the_loss_and_the_onnx_file_serves_the_tuned_network(nicu: Path, tmp_path: Path) -> None:
    examples = load_examples(nicu)
    net = load_retinaface(str(resolve("retinaface_mobilenet0.25")))
    before = _loss(net, examples)
    losses = tune(net, examples, SMALL)
    assert len(losses) == SMALL.epochs and _loss(net, examples) < before
    path = tune_from_manifest(nicu, tmp_path / "tuned", TuneConfig(epochs=1, batch_size=4, size=160))
    assert path.is_file() and (tmp_path / "tuned" / "detector.pth").is_file()
    detector = create_detector(str(path))
    assert detector.name == "retinaface-onnx" and ",file=" in detector.signature
    assert detector.signature != create_detector("retinaface-onnx").signature
    # The served file is the tuned network: its outputs are the checkpoint's, not the original's.
    image = read_image(resolve_path(nicu, read_manifest(nicu)[0].path))
    tuned = load_retinaface(str(tmp_path / "tuned" / "detector.pth"))
    with torch.no_grad():
        expected = [t[0].numpy() for t in tuned(torch.from_numpy(preprocess(image)))]
    served = detector.raw_outputs(image)
    original = create_detector("retinaface-onnx").raw_outputs(image)
    for got, want in zip(served, expected, strict=True):
        assert np.allclose(got, want, atol=1e-3)
    assert not np.allclose(served[1], original[1], atol=1e-3)


def _loss(net: torch.nn.Module, examples) -> float:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(99)
    drawn = [augmented(e, SMALL, rng) for e in examples]
    from neopain.faces.detector_training import batch_tensors

    images, targets = batch_tensors([d[0] for d in drawn], [d[1] for d in drawn])
    net.eval()
    with torch.no_grad():
        return float(multibox_loss(net.heads(images), targets, torch.from_numpy(np.array(make_priors(160, 160)))))


def test_a_manifest_without_landmarks_is_refused_by_name(nicu: Path, tmp_path: Path) -> None:
    bare = [s.with_(landmarks=None, path=str(resolve_path(nicu, s.path))) for s in read_manifest(nicu)]
    manifest = write_manifest(bare, tmp_path / "bare.csv")
    with pytest.raises(DetectorDataError, match="bare.csv"):
        load_examples(manifest)
    result = CliRunner().invoke(app, ["faces", "tune-detector", str(manifest), "--out", str(tmp_path / "d")])
    assert result.exit_code != 0 and "bare.csv" in result.output and not (tmp_path / "d").exists()


def test_a_detector_name_or_file_that_is_none_is_refused_by_name(nicu: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["faces", "extract", str(nicu), "--out", str(tmp_path / "a"), "--detector", "nope"])
    assert unknown.exit_code != 0 and "unknown face detector 'nope'" in unknown.output
    missing = runner.invoke(app, ["faces", "extract", str(nicu), "--out", str(tmp_path / "b"),
                                  "--detector", str(tmp_path / "none.onnx")])
    assert missing.exit_code != 0 and "none.onnx" in missing.output
    classifier = export_checked(make_checkpoint(tmp_path), tmp_path / "classifier.onnx").path
    with pytest.raises(ValueError, match="classifier.onnx: not a RetinaFace detector"):
        create_detector(str(classifier))


def test_face_free_photographs_are_learnt_as_background_only(nicu: Path) -> None:
    negatives = face_free_examples()
    assert len(negatives) == len(FACE_FREE_PHOTOS) and all(e.box is None for e in negatives)
    pool = epoch_pool(30, len(negatives), 0.25)
    assert pool[:30] == list(range(30)) and len(pool) == 40 and set(pool[30:]) <= set(range(30, 44))
    assert len(epoch_pool(30, len(negatives), 0.5)) == 60 and epoch_pool(30, 0, 0.5) == list(range(30))
    rng = np.random.default_rng(5)
    image, target = augmented(negatives[0], SMALL, rng)
    assert image.shape == (SMALL.size, SMALL.size, 3) and np.isnan(target).all()
    priors = torch.from_numpy(np.array(make_priors(SMALL.size, SMALL.size)))
    positive, _, _ = match(priors, torch.from_numpy(target.astype(np.float32)))
    assert not positive.any()
    # A face-free picture adds its hardest background anchors to the loss, and nothing else.
    face = augmented(load_examples(nicu)[0], SMALL, rng)
    net = load_retinaface(str(resolve("retinaface_mobilenet0.25"))).eval()
    from neopain.faces.detector_training import batch_tensors

    with torch.no_grad():
        images, targets = batch_tensors([face[0], image], [face[1], target])
        outputs = net.heads(images)
        both = float(multibox_loss(outputs, targets, priors))
        alone = float(multibox_loss(tuple(o[:1] for o in outputs), targets[:1], priors))
        background = torch.nn.functional.cross_entropy(outputs[1][1], torch.zeros(len(priors), dtype=torch.long),
                                                        reduction="none")
    hardest = float(background.topk(FACE_FREE_ANCHORS).values.sum())
    positives = int(match(priors, targets[0])[0].sum())
    weight = FACE_FREE_ANCHORS / NEGATIVES_PER_POSITIVE
    assert both == pytest.approx((alone * positives + hardest) / (positives + weight), rel=1e-4)
    only = float(multibox_loss(tuple(o[1:] for o in outputs), targets[1:], priors))
    assert only == pytest.approx(hardest / weight, rel=1e-4)  # not divided by a lone 1


def test_tuning_settings_out_of_range_are_refused_by_name(nicu: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="negative_share"):
        TuneConfig(negative_share=1.0)
    with pytest.raises(ValueError, match="multiple of 32"):
        TuneConfig(size=100)
    result = CliRunner().invoke(app, ["faces", "tune-detector", str(nicu), "--out", str(tmp_path / "d"),
                                      "--negative-share", "-0.1"])
    assert result.exit_code != 0 and "negative_share" in result.output and not (tmp_path / "d").exists()
    result = CliRunner().invoke(app, ["faces", "tune-detector", str(nicu), "--out", str(tmp_path / "d"),
                                      "--size", "100"])
    assert result.exit_code != 0 and "multiple of 32" in result.output and not (tmp_path / "d").exists()


def test_an_unreadable_detector_file_is_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="broken.onnx: not a readable ONNX file"):
        create_detector(str(broken))
    shouting = tmp_path / "BROKEN.ONNX"  # an upper-case suffix is a file too, not an unknown detector name
    shouting.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="BROKEN.ONNX: not a readable ONNX file"):
        create_detector(str(shouting))


def test_a_large_photograph_is_shrunk_once_with_its_face(nicu: Path) -> None:
    sample = read_manifest(nicu)[0]
    image = read_image(resolve_path(nicu, sample.path))
    big = np.kron(image, np.ones((4, 4, 1), np.uint8))  # the same picture at 4x, as a phone's photograph
    scaled = sample.with_(box=tuple(v * 4 for v in sample.box), landmarks=tuple(v * 4 for v in sample.landmarks))
    small, plain = upright_example(big, scaled, side=SMALL.size), upright_example(image, sample)
    assert max(small.box[2:]) <= SMALL.size + 1 and small.image.shape[0] < big.shape[0]
    ratio = small.box[2] / plain.box[2]
    assert np.allclose(small.landmarks, plain.landmarks * ratio, atol=2.5)
