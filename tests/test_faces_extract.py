"""extract_faces end to end: faces manifest, missed rows with reasons, several faces, cache, masks, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data.manifest import Sample, read_manifest, resolve_path, write_manifest
from neopain.faces import CropSettings, Face, create_detector
from neopain.faces.cache import CacheEntry, CropCache
from neopain.faces.crop import CROP_FILE, read_crop_file
from neopain.faces.extract import NO_FACE, extract_faces, output_stems
from neopain.pixels.imageio import read_image

REFERENCE_BOX = (181.0, 72.0, 89.0, 108.0)  # checked by eye, see test_faces.py
EXIF_ORIENTATION = 0x0112


def _astronaut() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def _two_faces() -> np.ndarray:
    """The astronaut and a half-size copy of her: two faces, the larger on the left."""
    canvas = np.full((512, 768, 3), 200, np.uint8)
    canvas[:, :512] = _astronaut()
    canvas[128:384, 512:] = cv2.resize(_astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    return canvas


def _save_rotated_with_exif(path: Path) -> None:
    """Store the astronaut turned 90 degrees with EXIF orientation 6, so a viewer shows her upright."""
    upright = Image.fromarray(skimage.data.astronaut())
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 = rotate 90 CW to display
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    stored.save(path, quality=95, exif=exif)


@pytest.fixture()
def photo_manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "img"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "astro.jpg"), _astronaut())
    cv2.imwrite(str(folder / "two.png"), _two_faces())
    cv2.imwrite(str(folder / "blank.png"), np.full((200, 300, 3), 128, np.uint8))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    _save_rotated_with_exif(folder / "exif.jpg")
    rows = [
        Sample(path=f"img/{name}", subject=f"s{i}", label="pain")
        for i, name in enumerate(["astro.jpg", "two.png", "blank.png", "corrupt.jpg", "exif.jpg"])
    ]
    return write_manifest(rows, tmp_path / "data" / "manifest.csv")


class CountingDetector:
    """Wraps a detector and counts detect() calls (cache hits must make none)."""

    def __init__(self, name: str) -> None:
        self.inner = create_detector(name)
        self.calls = 0
        original = self.inner.detect

        def counted(image: np.ndarray) -> list[Face]:
            self.calls += 1
            return original(image)

        self.inner.detect = counted  # type: ignore[method-assign]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_extract_writes_crops_manifest_and_reasons(photo_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "faces"
    counting = CountingDetector("yunet")
    summary = extract_faces(photo_manifest, out, detector=counting.inner, cache_dir=tmp_path / "cache")
    assert (summary.total, summary.found, len(summary.missed)) == (5, 3, 2)
    assert summary.several == [("img/two.png", 2)]
    assert counting.calls == 4  # the corrupt file never reaches the detector

    missed = {row["path"]: row["reason"] for row in _read_csv(out / "missed.csv")}
    assert missed["img/blank.png"] == NO_FACE
    assert (
        missed["img/corrupt.jpg"].startswith("unreadable image:")
        and "corrupt.jpg" in missed["img/corrupt.jpg"]
    )
    assert _read_csv(out / "several.csv") == [{"path": "img/two.png", "faces": "2"}]

    rows = {Path(s.source_path).name: s for s in read_manifest(out / "faces.csv")}
    assert set(rows) == {"astro.jpg", "two.png", "exif.jpg"}
    for name, sample in rows.items():
        crop = read_image(resolve_path(out / "faces.csv", sample.path))
        assert crop.shape == (224, 224, 3)
        assert resolve_path(out / "faces.csv", sample.source_path).resolve() == (
            photo_manifest.parent / "img" / name
        )
        assert sample.label == "pain" and sample.subject.startswith("s")
    assert Face(*rows["astro.jpg"].box, score=1).iou(REFERENCE_BOX) >= 0.5
    # EXIF honoured: the box is in upright pixels, where the face is.
    assert Face(*rows["exif.jpg"].box, score=1).iou(REFERENCE_BOX) >= 0.5
    # Several faces: the larger (left) one is kept.
    assert Face(*rows["two.png"].box, score=1).iou(REFERENCE_BOX) >= 0.5


def test_second_run_is_served_by_the_cache(photo_manifest: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "faces", tmp_path / "cache"
    first = CountingDetector("yunet")
    extract_faces(photo_manifest, out, detector=first.inner, cache_dir=cache)
    crops = sorted((out / "crops").rglob("*.png"))
    stamps = {p: p.stat().st_mtime_ns for p in crops}
    manifest_bytes = (out / "faces.csv").read_bytes()

    second = CountingDetector("yunet")
    summary = extract_faces(photo_manifest, out, detector=second.inner, cache_dir=cache)
    assert second.calls == 0
    assert summary.cached == 4 and summary.found == 3
    assert {p: p.stat().st_mtime_ns for p in crops} == stamps  # identical crops are not rewritten
    assert (out / "faces.csv").read_bytes() == manifest_bytes

    # Other crop settings are another cache entry: the detector runs again.
    third = CountingDetector("yunet")
    extract_faces(
        photo_manifest,
        tmp_path / "small",
        detector=third.inner,
        cache_dir=cache,
        settings=CropSettings(size=96),
    )
    assert third.calls == 4
    assert read_image(tmp_path / "small" / "crops" / "img" / "astro.png").shape == (96, 96, 3)
    assert not list(cache.rglob("*.part"))


def test_cache_never_trusts_half_an_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = CropCache(tmp_path / "cache")
    key = cache.key("ab" * 32, "yunet:x", CropSettings())
    entry = CacheEntry([Face(1, 2, 3, 4, 0.9)], 0, np.eye(2, 3), False, (10, 10), b"png bytes")

    import neopain.core.atomic as atomic_module

    real_replace = atomic_module.os.replace

    def failing_on_json(src: str, dst: object) -> None:
        if str(dst).endswith(".json"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(atomic_module.os, "replace", failing_on_json)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, entry)
    monkeypatch.setattr(atomic_module.os, "replace", real_replace)
    assert cache.get(key) is None  # the crop PNG alone is no entry
    assert not list(cache.root.rglob("*.part"))

    cache.put(key, entry)
    again = cache.get(key)
    assert again is not None and again.crop_png == b"png bytes" and again.face.box == (1, 2, 3, 4)
    next(cache.root.rglob("*.png")).write_bytes(b"tampered")
    assert cache.get(key) is None


def _synthetic_rows(folder: Path) -> list[Sample]:
    """Two images with a known face box and a region mask whose bit 1 marks a red patch."""
    folder.mkdir(parents=True)
    rows = []
    for i, (x, y) in enumerate([(40, 30), (150, 90)]):
        image = np.full((240, 320, 3), 60, np.uint8)
        cv2.rectangle(image, (x, y), (x + 99, y + 119), (180, 200, 230), -1)
        image[y + 20 : y + 40, x + 20 : x + 50] = (0, 0, 255)
        mask = np.zeros((240, 320), np.uint8)
        mask[y + 20 : y + 40, x + 20 : x + 50] = 2
        cv2.imwrite(str(folder / f"f{i}.png"), image)
        cv2.imwrite(str(folder / f"f{i}_mask.png"), mask)
        rows.append(
            Sample(
                path=f"synth/f{i}.png",
                subject=f"b{i}",
                dataset="synthetic",
                label="no_pain",
                box=(float(x), float(y), 100.0, 120.0),
                mask_path=f"synth/f{i}_mask.png",
            )
        )
    return rows


def test_box_detector_uses_manifest_boxes_and_crops_masks(tmp_path: Path) -> None:
    rows = _synthetic_rows(tmp_path / "synth")
    rows.append(Sample(path="synth/f0.png", subject="b9").with_(path="synth/nobox.png"))
    cv2.imwrite(str(tmp_path / "synth" / "nobox.png"), np.zeros((50, 50, 3), np.uint8))
    manifest = write_manifest(rows, tmp_path / "manifest.csv")
    out = tmp_path / "faces"
    summary = extract_faces(
        manifest,
        out,
        detector="box",
        cache_dir=tmp_path / "cache",
        settings=CropSettings(size=128, margin=0.1),
    )
    assert summary.found == 2 and summary.missed == [
        ("synth/nobox.png", "no face box in the manifest row (box_x, box_y, box_w, box_h are empty)")
    ]
    for sample, original in zip(read_manifest(out / "faces.csv"), rows):
        assert sample.box == original.box
        crop = read_image(resolve_path(out / "faces.csv", sample.path))
        mask = cv2.imread(str(resolve_path(out / "faces.csv", sample.mask_path)), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (128, 128) and set(np.unique(mask)) == {0, 2}
        red = (crop[..., 2] > 200) & (crop[..., 1] < 60)
        # The cropped mask sits on the red patch of the cropped image (up to a pixel of interpolation).
        assert (red & (mask == 2)).sum() >= 0.8 * (mask == 2).sum()
    # How the crops were cut travels with them: training reads it, export puts it in the model.
    assert read_crop_file(out / "faces.csv") == CropSettings(size=128, margin=0.1)
    assert json.loads((out / CROP_FILE).read_text())["detector"] == "box"

    moved = [rows[0].with_(box=(1000.0, 1000.0, 10.0, 10.0))]
    summary = extract_faces(
        write_manifest(moved, tmp_path / "moved.csv"),
        tmp_path / "o2",
        detector="box",
        cache_dir=tmp_path / "cache",
    )
    assert "outside the 320x240 image" in summary.missed[0][1]


def test_output_stems_are_unique_and_stay_inside() -> None:
    rows = [
        Sample(path=p, subject="s") for p in ("a/x.jpg", "a/x.png", "b/y.jpg", "/abs/z.jpg", "../up/w.jpg")
    ]
    stems = output_stems(rows)
    assert len(set(stems.values())) == len(rows)
    assert str(stems["b/y.jpg"]) == "b/y"
    assert str(stems["a/x.jpg"]).startswith("a/x-") and str(stems["a/x.png"]).startswith("a/x-")
    assert all(".." not in s.parts and not s.is_absolute() for s in stems.values())


def test_cli_extract_with_box_detector(tmp_path: Path) -> None:
    manifest = write_manifest(_synthetic_rows(tmp_path / "synth"), tmp_path / "manifest.csv")
    out = tmp_path / "faces"
    args = [
        "faces",
        "extract",
        str(manifest),
        "--detector",
        "box",
        "--out",
        str(out),
        "--size",
        "64",
        "--margin",
        "0.2",
        "--align",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "found" in result.output and "unaligned" in result.output
    assert len(read_manifest(out / "faces.csv")) == 2
    assert read_image(out / "crops" / "synth" / "f0.png").shape == (64, 64, 3)

    (tmp_path / "bad.csv").write_text("path,subject\nsynth/f0.png,\n")
    result = CliRunner().invoke(app, ["faces", "extract", str(tmp_path / "bad.csv"), "--out", str(out)])
    assert result.exit_code == 2 and "field 'subject'" in result.output
