"""Detection at the resolution the face needs: the turns compared on small copies, the face looked at again
in its window, a camera's face followed between frames (one predictor, several cameras), JPEG decoding."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from neopain.faces import Face, FaceDetector, RotatingDetector, create_detector, turn_face, turn_image
from neopain.faces.rotate import FOLLOW_COAST, FOLLOW_RECHECK, Followed, follow_window
from neopain.pixels.imageio import decode_image
from tests._export_helpers import astronaut_bgr
from tests.test_faces_rotate import Counting

SEARCH = (160, 320)


def on_canvas(face_bgr: np.ndarray, x: int, y: int, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """``face_bgr`` pasted at (x, y) on a plain grey frame of ``size`` (h, w)."""
    canvas = np.full((*size, 3), 110, np.uint8)
    h, w = face_bgr.shape[:2]
    canvas[y : y + h, x : x + w] = face_bgr
    return canvas


@pytest.fixture(scope="module")
def yunet() -> FaceDetector:
    return create_detector("yunet")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """The astronaut at 0.6 scale (face about 60 px wide) on a 640x480 frame."""
    small = cv2.resize(astronaut_bgr(), None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    return on_canvas(small, 200, 80)


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_small_copies_pick_the_same_turn_and_face_as_every_turn_in_full(degrees, yunet, frame) -> None:
    turned = turn_image(frame, degrees)
    full_faces, full_turn = RotatingDetector(yunet).detect_turn(turned)
    counting = Counting(yunet)
    faces, turn = RotatingDetector(counting, search_sides=SEARCH).detect_turn(turned)
    assert turn == full_turn
    assert faces[0].iou(full_faces[0]) > 0.8
    # Landmarks from the face's own window are as precise as from the whole frame (a few pixels).
    assert np.abs(faces[0].landmarks - full_faces[0].landmarks).max() < 0.08 * full_faces[0].w
    assert counting.calls == 4 + 1  # four turns of the 160 px copy, then the face's window


def test_no_face_in_any_small_copy_is_no_face_without_a_full_look(yunet) -> None:
    counting = Counting(yunet)
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert RotatingDetector(counting, search_sides=SEARCH).detect(blank) == []
    assert counting.calls == 4 + 4  # the 160 px copy's turns, then the 320 px copy's; never 640 px


def test_search_sides_are_checked_and_named_in_the_signature(yunet) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        RotatingDetector(yunet, search_sides=(16,))
    assert "search=160/320" in RotatingDetector(yunet, search_sides=(320, 160)).signature


def test_the_window_around_a_face_stays_inside_the_frame() -> None:
    assert follow_window(Face(600, 400, 60, 60, 0.9), 640, 480) == (570, 370, 640, 480)
    assert follow_window(Face(100, 100, 50, 40, 0.9), 640, 480) == (75, 70, 175, 170)


def test_a_moving_face_is_followed_in_its_window_at_one_look_a_frame(yunet, frame) -> None:
    counting = Counting(yunet)
    follow = RotatingDetector(counting, mode="follow", search_sides=SEARCH)
    truth = RotatingDetector(yunet)
    follow.detect(frame)
    counting.calls = 0
    for step in range(1, FOLLOW_RECHECK - 1):
        moved = np.roll(frame, (3 * step, 5 * step), axis=(0, 1))  # the grey border rolls in: still plain
        faces = follow.detect(moved)
        assert faces[0].iou(truth.detect(moved)[0]) > 0.8
    assert counting.calls == FOLLOW_RECHECK - 2  # one look per frame, in the window only


def test_a_face_that_jumps_away_is_searched_for_again(yunet, frame) -> None:
    counting = Counting(yunet)
    follow = RotatingDetector(counting, mode="follow", search_sides=SEARCH)
    follow.detect(frame)
    jumped = np.roll(frame, -180, axis=1)  # the whole photograph moves left, out of the window
    counting.calls = 0
    faces = follow.detect(jumped)
    assert counting.calls > 1  # the window was empty: every turn again
    assert faces and faces[0].iou(RotatingDetector(yunet).detect(jumped)[0]) > 0.8


def test_a_smaller_frame_than_the_last_one_is_searched_not_refused(yunet, frame) -> None:
    """The camera's next frame is smaller than the face's last window reaches: no empty window is looked at."""
    follow = RotatingDetector(yunet, mode="follow", search_sides=SEARCH)
    assert follow.detect(frame)
    assert follow.detect(np.ascontiguousarray(frame[:60, :120])) == []  # the face was below and right of this


def test_a_face_hidden_for_a_frame_is_found_again_in_its_window(yunet, frame) -> None:
    counting = Counting(yunet)
    follow = RotatingDetector(counting, mode="follow", search_sides=SEARCH)
    first = follow.detect(frame)[0]
    assert follow.detect(np.full_like(frame, 110)) == []  # a hand over the lens
    assert follow.memory().lost == 1
    counting.calls = 0
    again = follow.detect(frame)
    assert counting.calls == 1  # one look in the lost face's window, no search
    assert again[0].iou(first) > 0.8 and follow.memory().lost == 0


def test_a_lost_face_s_roll_alone_is_searched_in_the_larger_copy_until_it_is_forgotten(yunet, frame) -> None:
    counting = Counting(yunet)
    follow = RotatingDetector(counting, mode="follow", search_sides=SEARCH)
    follow.detect(turn_image(frame, 90))
    angle = follow.memory().angle
    blank = np.full((480, 640, 3), 110, np.uint8)
    calls = []
    for _ in range(FOLLOW_COAST + 1):
        counting.calls = 0
        assert follow.detect(blank) == []
        calls.append(counting.calls)
    # Kept in mind: its window, the 160 px copy at every turn, the 320 px copy at its roll; then forgotten.
    assert calls == [1 + 4 + 1] * FOLLOW_COAST + [4 + 4]
    assert follow.memory() is None and angle in (90, 270)


def test_one_predictor_follows_each_camera_from_its_own_last_face(tmp_path, frame) -> None:
    from neopain.export.to_onnx import export_checked
    from neopain.inference.predictor import Predictor
    from tests._export_helpers import make_checkpoint

    model = export_checked(make_checkpoint(tmp_path, steps=2), tmp_path / "model.onnx").path
    predictor = Predictor.from_files(model, rotations="follow")
    upright, sideways = frame, turn_image(frame, 90)
    for _ in range(3):  # two cameras' frames interleaved, each keeps its own roll and place
        a = predictor.assess(upright, stream="cot-1")
        b = predictor.assess(sideways, stream="cot-2")
        assert a.ok and b.ok
        assert Face(*a.box, score=1).iou(Face(*b.box, score=1)) < 0.5
    memories = {key: predictor._streams[key] for key in ("cot-1", "cot-2")}
    assert all(isinstance(m, Followed) for m in memories.values())
    assert memories["cot-1"].angle == 0 and memories["cot-2"].angle in (90, 270)
    expected = turn_face(Face(*a.box, score=1), 90, frame.shape[1], frame.shape[0])
    assert expected.iou(Face(*b.box, score=1)) > 0.8
    assert predictor.detector.memory() is None  # the streams' memories never leak into a plain call


def _jpeg_with_orientation(image_bgr: np.ndarray, orientation: int) -> bytes:
    pil = Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    exif = pil.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_camera_jpeg_decodes_to_pillow_s_pixels_in_every_exif_orientation(orientation: int) -> None:
    image = np.random.default_rng(orientation).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    image[:8, :8] = 255  # a corner to tell the orientations apart
    data = _jpeg_with_orientation(image, orientation)
    with Image.open(io.BytesIO(data)) as pil:
        expected = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(pil).convert("RGB")), cv2.COLOR_RGB2BGR)
    decoded = decode_image(data)
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(int) - expected).max() <= 1
