"""Face detectors on a real photograph, RetinaFace priors and decoding, ONNX export, torch-free imports."""

from __future__ import annotations

import subprocess
import sys
from math import ceil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import skimage.data
from typer.testing import CliRunner

from neopain.cli import app
from neopain.faces import Face, create_detector
from neopain.faces.priors import (
    MIN_SIZES,
    STEPS,
    decode_boxes,
    decode_landmarks,
    make_priors,
    nms,
    preprocess,
)

# The astronaut's face (hairline to chin, cheek to cheek), checked by eye on a 10-pixel grid drawn over
# skimage.data.astronaut() and on the detections drawn next to it.
REFERENCE_BOX = (181.0, 72.0, 89.0, 108.0)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def detectors() -> dict[str, object]:
    return {name: create_detector(name) for name in ("yunet", "retinaface", "retinaface-onnx")}


def _inside(points: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return bool(
        np.all((points[:, 0] >= x) & (points[:, 0] <= x + w) & (points[:, 1] >= y) & (points[:, 1] <= y + h))
    )


@pytest.mark.parametrize("name", ["yunet", "retinaface", "retinaface-onnx"])
def test_detector_finds_the_astronaut(name: str, detectors: dict, astronaut: np.ndarray) -> None:
    faces = detectors[name].detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.iou(REFERENCE_BOX) >= 0.5
    assert face.score > 0.8
    assert face.landmarks is not None and face.landmarks.shape == (5, 2)
    assert _inside(face.landmarks, face.box)
    right_eye, left_eye, nose, right_mouth, left_mouth = face.landmarks
    # The subject's right eye is on the image's left; eyes above the nose, nose above the mouth.
    assert right_eye[0] < left_eye[0] and right_mouth[0] < left_mouth[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])


@pytest.mark.parametrize("name", ["yunet", "retinaface-onnx"])
def test_large_images_are_shrunk_and_boxes_scaled_back(
    name: str, detectors: dict, astronaut: np.ndarray
) -> None:
    big = cv2.resize(astronaut, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)  # 1280 > max_side 640
    face = detectors[name].detect(big)[0]
    assert face.iou(tuple(v * 2.5 for v in REFERENCE_BOX)) >= 0.5
    assert _inside(face.landmarks, face.box)


def test_no_face_in_a_blank_image(detectors: dict) -> None:
    blank = np.full((240, 320, 3), 127, np.uint8)
    assert all(detectors[name].detect(blank) == [] for name in detectors)


def _opencv_yunet(image: np.ndarray) -> np.ndarray:
    """OpenCV's own YuNet (the reference our ONNX Runtime port is held to): rows of box, points, score."""
    from neopain.core.weights import resolve

    height, width = image.shape[:2]
    net = cv2.FaceDetectorYN.create(str(resolve("yunet")), "", (width, height), 0.6, 0.3, 50)
    rows = net.detect(image)[1]
    return np.zeros((0, 15), np.float32) if rows is None else rows[np.argsort(-rows[:, 14], kind="stable")]


def test_yunet_on_onnx_runtime_finds_what_opencv_finds(astronaut: np.ndarray) -> None:
    """Every size (odd ones padded to 32), one face and several: the same faces, points and scores."""
    from neopain.faces.yunet import YuNetDetector

    detector = YuNetDetector(max_side=None)
    pair = np.concatenate([cv2.resize(astronaut, (200, 200)), cv2.resize(astronaut, (160, 200))[:, ::-1]], axis=1)
    images = [cv2.resize(astronaut, size, interpolation=cv2.INTER_AREA)
              for size in [(160, 120), (120, 160), (320, 240), (150, 118), (333, 250), (512, 512), (640, 480)]]
    found = 0
    for image in [*images, np.ascontiguousarray(pair), np.full((96, 128, 3), 127, np.uint8)]:
        expected = _opencv_yunet(image)
        faces = detector.detect(image)
        assert len(faces) == len(expected)
        for face, row in zip(faces, expected, strict=True):
            np.testing.assert_allclose(face.box, row[:4], atol=0.05)
            np.testing.assert_allclose(np.asarray(face.landmarks).reshape(-1), row[4:14], atol=0.05)
            assert face.score == pytest.approx(float(row[14]), abs=1e-4)
        found += len(faces)
    assert found >= 8  # the pair's two faces and the astronaut at 240 px and up
    assert detector.detect(np.zeros((0, 64, 3), np.uint8)) == [] == detector.detect(np.zeros((48, 0, 3), np.uint8))


def test_yunet_refuses_a_file_that_is_not_yunet(tmp_path: Path) -> None:
    from neopain.faces.yunet import any_size_model

    broken = tmp_path / "yunet.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="yunet.onnx: not a readable ONNX file"):
        any_size_model(broken)
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    other = helper.make_model(helper.make_graph([helper.make_node("Identity", ["input"], ["out"])], "other",
                                                [value], [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)]))
    onnx.save(other, tmp_path / "other.onnx")
    with pytest.raises(ValueError, match="other.onnx: not a YuNet detector"):
        any_size_model(tmp_path / "other.onnx")


def test_torch_and_onnx_retinaface_agree(detectors: dict, astronaut: np.ndarray) -> None:
    image = astronaut[30:330, 90:497]  # odd size, not a multiple of the strides
    torch_out = detectors["retinaface"].raw_outputs(image)
    onnx_out = detectors["retinaface-onnx"].raw_outputs(image)
    for a, b in zip(torch_out, onnx_out):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 1e-3
    face_t, face_o = detectors["retinaface"].detect(image)[0], detectors["retinaface-onnx"].detect(image)[0]
    assert face_t.iou(face_o) > 0.99 and abs(face_t.score - face_o.score) < 1e-4


def test_priors_follow_the_original_layout() -> None:
    height, width = 100, 130
    priors = make_priors(height, width)
    expected = sum(ceil(height / s) * ceil(width / s) * len(m) for s, m in zip(STEPS, MIN_SIZES))
    assert priors.shape == (expected, 4)
    # First cell of stride 8: two anchors (16 and 32 pixels) centred at (4, 4) pixels.
    np.testing.assert_allclose(priors[0], [4 / width, 4 / height, 16 / width, 16 / height], rtol=1e-6)
    np.testing.assert_allclose(priors[1], [4 / width, 4 / height, 32 / width, 32 / height], rtol=1e-6)
    # Second cell moves along x first (row-major over the feature map).
    np.testing.assert_allclose(priors[2, :2], [12 / width, 4 / height], rtol=1e-6)
    # Last anchor: stride 32, bottom-right cell, 512 pixels.
    np.testing.assert_allclose(
        priors[-1],
        [
            (ceil(width / 32) - 0.5) * 32 / width,
            (ceil(height / 32) - 0.5) * 32 / height,
            512 / width,
            512 / height,
        ],
        rtol=1e-6,
    )


def test_decoding_with_zero_offsets_gives_the_priors() -> None:
    priors = make_priors(64, 64)
    boxes = decode_boxes(np.zeros((len(priors), 4), np.float32), priors)
    np.testing.assert_allclose((boxes[:, :2] + boxes[:, 2:]) / 2, priors[:, :2], atol=1e-6)
    np.testing.assert_allclose(boxes[:, 2:] - boxes[:, :2], priors[:, 2:], atol=1e-6)
    landmarks = decode_landmarks(np.ones((len(priors), 10), np.float32), priors)
    np.testing.assert_allclose(landmarks[:, 3], priors[:, :2] + 0.1 * priors[:, 2:], atol=1e-6)


def test_nms_drops_overlaps_and_keeps_order() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 9, 10]], np.float32)
    scores = np.array([0.7, 0.9, 0.8, 0.1], np.float32)
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 2, 0, 3]


def test_preprocess_subtracts_the_bgr_means() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 104, 117, 200
    out = preprocess(image)
    assert out.shape == (1, 3, 2, 3) and out.dtype == np.float32
    assert np.all(out[0, 0] == 0) and np.all(out[0, 1] == 0) and np.all(out[0, 2] == 77)


def test_unknown_detector_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown face detector 'mtcnn'"):
        create_detector("mtcnn")


def test_face_scaling_and_serialisation_round_trip() -> None:
    face = Face(1.5, 2.25, 10.0, 12.0, 0.875, np.arange(10).reshape(5, 2))
    again = Face.from_dict(face.to_dict())
    assert again.box == face.box and again.score == face.score
    np.testing.assert_array_equal(again.landmarks, face.landmarks)
    half = face.scaled(0.5)
    assert half.box == (0.75, 1.125, 5.0, 6.0)
    np.testing.assert_array_equal(half.landmarks, face.landmarks * 0.5)


def test_cli_exports_retinaface_with_dynamic_size(tmp_path, astronaut: np.ndarray) -> None:
    out = tmp_path / "retinaface.onnx"
    result = CliRunner().invoke(app, ["faces", "export-retinaface", "--out", str(out)])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for height, width in ((96, 160), (131, 77)):
        loc, conf, landms = session.run(None, {"image": preprocess(astronaut[:height, :width])})
        anchors = len(make_priors(height, width))
        assert (
            loc.shape == (1, anchors, 4)
            and conf.shape == (1, anchors, 2)
            and landms.shape == (1, anchors, 10)
        )
        np.testing.assert_allclose(conf.sum(-1), 1.0, atol=1e-5)
    assert not list(tmp_path.glob("*.part"))


def test_serving_modules_do_not_import_torch() -> None:
    code = (
        "import sys; import neopain.faces, neopain.faces.crop, neopain.faces.yunet, "
        "neopain.faces.retinaface_onnx, neopain.faces.retinaface, neopain.faces.extract; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
