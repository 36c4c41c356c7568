"""Square crops: size, margin, border replication, eye-line alignment, masks, anti-aliasing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from neopain.faces import CropSettings, Face, crop_affine, crop_face, crop_mask, transform_points
from neopain.faces.crop import eye_angle


def _white_square_image(box: tuple[int, int, int, int], shape: tuple[int, int] = (300, 400)) -> np.ndarray:
    image = np.zeros((*shape, 3), np.uint8)
    x, y, w, h = box
    image[y : y + h, x : x + w] = 255
    return image


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(first column, last column, first row, last row) of the non-zero pixels."""
    ys, xs = np.nonzero(mask)
    return xs.min(), xs.max(), ys.min(), ys.max()


@pytest.mark.parametrize(("margin", "size"), [(0.0, 100), (0.25, 150), (0.5, 224)])
def test_box_fills_the_crop_minus_the_margin(margin: float, size: int) -> None:
    box = (120, 80, 100, 100)
    crop, affine = crop_face(_white_square_image(box), Face(*box, score=1.0), size=size, margin=margin)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    expected_side = size / (1 + 2 * margin)
    x0, x1, y0, y1 = _extent(crop[..., 0] > 127)
    start = (size - expected_side) / 2
    assert abs(x0 - start) <= 1.5 and abs(y0 - start) <= 1.5
    assert abs((x1 - x0 + 1) - expected_side) <= 2 and abs((y1 - y0 + 1) - expected_side) <= 2
    centre = transform_points(affine, [[170, 130]])[0]
    np.testing.assert_allclose(centre, [(size - 1) / 2] * 2, atol=1e-9)


def test_non_square_box_gives_a_square_on_its_longer_side() -> None:
    face = Face(50, 40, 60, 120, score=1.0)
    affine = crop_affine(face, size=100, margin=0.0)
    corners = transform_points(affine, [[80, 40], [80, 160]])  # top and bottom centre of the box
    assert corners[1, 1] - corners[0, 1] == pytest.approx(100.0)


def test_square_leaving_the_image_is_padded_by_replication() -> None:
    rows, cols = np.mgrid[0:200, 0:200]
    image = np.dstack([rows, cols, np.full_like(rows, 90)]).astype(np.uint8)
    crop, _ = crop_face(image, Face(0, 0, 40, 40, score=1.0), size=80, margin=0.5)
    # The square is [-20, 60) on both axes: its first quarter lies outside and repeats row/column 0.
    outside = crop[:18, :18]
    np.testing.assert_array_equal(outside[..., 0], 0)
    np.testing.assert_array_equal(outside[..., 1], 0)
    np.testing.assert_array_equal(outside[..., 2], 90)
    assert crop[-1, -1, 0] > 50  # inside the image the gradient goes on


def _eyes_image(angle: float) -> tuple[np.ndarray, Face]:
    """Two dark eyes 60 pixels apart on a grey face, rotated by ``angle`` degrees about the centre."""
    image = np.full((240, 240, 3), 200, np.uint8)
    eyes = np.array([[90.0, 100.0], [150.0, 100.0]])
    for x, y in eyes:
        cv2.circle(image, (int(x), int(y)), 7, (20, 20, 20), -1)
    rotation = cv2.getRotationMatrix2D((120, 120), angle, 1.0)
    rotated = cv2.warpAffine(image, rotation, (240, 240), borderMode=cv2.BORDER_REPLICATE)
    landmarks = np.vstack([transform_points(rotation, eyes), [[120, 130], [100, 160], [140, 160]]])
    return rotated, Face(70, 60, 100, 120, score=1.0, landmarks=landmarks)


def _blob_centres(crop: np.ndarray) -> np.ndarray:
    dark = (crop[..., 0] < 100).astype(np.uint8)
    count, _, _, centroids = cv2.connectedComponentsWithStats(dark)
    assert count == 3, "expected exactly two eyes in the crop"
    return centroids[1:][np.argsort(centroids[1:, 0])]


@pytest.mark.parametrize("angle", [25.0, -14.0])
def test_alignment_levels_the_eyes(angle: float) -> None:
    image, face = _eyes_image(angle)
    # cv2 rotates counter-clockwise for a positive angle, which raises the left eye: a negative eye angle.
    assert eye_angle(face) == pytest.approx(-angle, abs=1e-4)
    tilted = _blob_centres(crop_face(image, face, size=160, margin=0.2, align=False)[0])
    levelled = _blob_centres(crop_face(image, face, size=160, margin=0.2, align=True)[0])
    assert abs(tilted[0, 1] - tilted[1, 1]) > 10
    assert abs(levelled[0, 1] - levelled[1, 1]) < 1.5
    # The eye distance keeps its scale: 60 pixels * 160 / (120 * 1.4).
    assert np.linalg.norm(levelled[1] - levelled[0]) == pytest.approx(60 * 160 / 168, abs=1.5)


def test_alignment_without_landmarks_falls_back_to_no_rotation() -> None:
    face = Face(10, 10, 50, 50, score=1.0)
    np.testing.assert_array_equal(crop_affine(face, align=True), crop_affine(face, align=False))


def test_mask_follows_the_image_with_nearest_neighbour() -> None:
    image, face = _eyes_image(25.0)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:120] = 1  # upper half: region bit 0
    mask[150:200, 80:160] = 8  # mouth area: region bit 3
    _, affine = crop_face(image, face, size=128, margin=0.6, align=True)
    cropped = crop_mask(mask, affine, 128)
    assert cropped.shape == (128, 128) and cropped.dtype == np.uint8
    assert set(np.unique(cropped)) <= {0, 1, 8}
    # Where the mask says 'mouth area' the image crop is what the image holds there; both moved together.
    expected = crop_mask((mask == 8).astype(np.uint8) * 255, affine, 128)
    np.testing.assert_array_equal(cropped == 8, expected == 255)
    # The square reaches beyond the image: outside there is no region (zero), never a replicated label.
    inside = crop_mask(np.ones_like(mask), affine, 128)
    source = transform_points(
        cv2.invertAffineTransform(affine), np.indices((128, 128))[::-1].reshape(2, -1).T
    )
    far_out = ((source < -1) | (source > 240)).any(axis=1).reshape(128, 128)
    far_in = ((source > 1) & (source < 238)).all(axis=1).reshape(128, 128)
    assert far_out.any() and far_in.any()
    assert np.all(inside[far_out] == 0) and np.all(inside[far_in] == 1)


def test_large_downscale_does_not_alias() -> None:
    checkerboard = ((np.indices((1200, 1200)).sum(axis=0) % 2) * 255).astype(np.uint8)
    image = np.dstack([checkerboard] * 3)
    crop, affine = crop_face(image, Face(100, 100, 1000, 1000, score=1.0), size=64, margin=0.0)
    assert abs(float(crop.mean()) - 127.5) < 3 and float(crop.std()) < 10
    np.testing.assert_allclose(
        transform_points(affine, [[100, 100]])[0], [-0.5 + 64 / 2000, -0.5 + 64 / 2000], atol=0.05
    )


def test_settings_that_record_no_margin_keep_the_old_default() -> None:
    # Crops written while 0.25 was the default must be served and explained as they were cut.
    assert CropSettings.from_dict({"size": 112, "align": True}) == CropSettings(112, 0.25, True)
    assert CropSettings.from_dict({"size": 112, "margin": 0.05}).margin == 0.05
    assert CropSettings.unrecorded(96) == CropSettings(96, 0.25)
    assert CropSettings().margin == 0.05


def test_crop_settings_validate_and_key() -> None:
    assert CropSettings().key() == "size=224,margin=0.05,align=1"
    assert CropSettings(size=112, margin=0.1, align=True).key() == "size=112,margin=0.1,align=1"
    with pytest.raises(ValueError, match="margin"):
        CropSettings(margin=-0.1)
    with pytest.raises(ValueError, match="size"):
        CropSettings(size=2)
