"""``validate_manifest`` and ``neopain data validate``: images, boxes, classes, errors naming file and row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data.manifest import Sample, write_manifest
from neopain.data.validate import image_size, validate_manifest
from neopain.pixels.imageio import ImageError

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def jpeg(path: Path, size: tuple[int, int] = (16, 16), orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (200, 150, 120))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, format="JPEG", exif=exif.tobytes())
    return path


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    """Two subjects, both classes each; relative paths."""
    rows = []
    for subject in ("s1", "s2"):
        for label in ("pain", "no_pain"):
            name = f"imgs/{subject}_{label}.jpg"
            jpeg(tmp_path / name)
            rows.append(Sample(path=name, subject=subject, dataset="toy", label=label, box=(2, 2, 10, 10)))
    return write_manifest(rows, tmp_path / "m.csv")


def test_valid_manifest_counts(good: Path) -> None:
    report = validate_manifest(good)
    assert report.ok, report.errors
    assert report.rows == 4 and report.subjects == 2 and report.images_checked
    assert report.by_label == {"pain": 2, "no_pain": 2} and report.by_dataset == {"toy": 4}
    assert report.by_subject["s1"] == {"pain": 1, "no_pain": 1}
    assert report.warnings == []


def test_image_size_honours_exif_rotation(tmp_path: Path) -> None:
    assert image_size(jpeg(tmp_path / "plain.jpg", (16, 8))) == (16, 8)
    assert image_size(jpeg(tmp_path / "turned.jpg", (16, 8), orientation=6)) == (8, 16)
    assert image_size(jpeg(tmp_path / "turned.jpg", (16, 8), orientation=6), decode=True) == (8, 16)


def test_missing_corrupt_and_truncated_images(tmp_path: Path) -> None:
    jpeg(tmp_path / "ok_pain.jpg")
    jpeg(tmp_path / "ok_none.jpg")
    (tmp_path / "garbage.jpg").write_bytes(b"this is not a jpeg")
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.jpg")
    whole = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # the header check cannot see this
    rows = [
        Sample(path="ok_pain.jpg", subject="s1", label="pain"),
        Sample(path="ok_none.jpg", subject="s1", label="no_pain"),
        Sample(path="gone.jpg", subject="s1", label="pain"),
        Sample(path="garbage.jpg", subject="s1", label="pain"),
        Sample(path="cut.jpg", subject="s1", label="pain"),
    ]
    manifest = write_manifest(rows, tmp_path / "m.csv")
    errors = validate_manifest(manifest).errors
    assert len(errors) == 2
    assert "m.csv: row 4, path 'gone.jpg'" in errors[0] and "not found" in errors[0]
    assert "m.csv: row 5, path 'garbage.jpg'" in errors[1] and "cannot decode" in errors[1]
    decoded = validate_manifest(manifest, decode=True).errors
    assert len(decoded) == 3 and "row 6, path 'cut.jpg'" in decoded[2]
    with pytest.raises(ImageError, match="garbage.jpg"):
        image_size(tmp_path / "garbage.jpg")


def test_boxes_are_checked_against_the_rotated_image(tmp_path: Path) -> None:
    jpeg(tmp_path / "turned.jpg", (16, 8), orientation=6)  # 8 wide, 16 high once rotated
    jpeg(tmp_path / "plain.jpg", (16, 16))
    jpeg(tmp_path / "plain2.jpg", (16, 16))
    rows = [
        Sample(path="turned.jpg", subject="s1", label="pain", box=(10, 1, 4, 4)),  # inside 16x8, not 8x16
        Sample(path="plain.jpg", subject="s1", label="no_pain", box=(12, 12, 8, 8)),  # past the border
        Sample(path="plain2.jpg", subject="s1", label="no_pain", box=(0, 0, 16, 16)),
    ]
    report = validate_manifest(write_manifest(rows, tmp_path / "m.csv"))
    assert len(report.errors) == 1 and "row 2, path 'turned.jpg'" in report.errors[0]
    assert "outside the 8x16 image" in report.errors[0]
    assert any("row 3, path 'plain.jpg'" in w and "extends past" in w for w in report.warnings)


def test_classes_and_one_class_subjects(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    jpeg(tmp_path / "b.jpg")
    only_pain = [
        Sample(path="a.jpg", subject="s1", label="pain"),
        Sample(path="b.jpg", subject="s2", label=""),
    ]
    report = validate_manifest(write_manifest(only_pain, tmp_path / "m.csv"))
    assert report.errors == [f"{tmp_path / 'm.csv'}: class 'no_pain' has no images"]
    assert report.warnings == [f"{tmp_path / 'm.csv'}: subject 's1' has images of 'pain' only"]
    unlabelled = [Sample(path="a.jpg", subject="s1")]
    assert "no row has a label" in validate_manifest(write_manifest(unlabelled, tmp_path / "u.csv")).errors[0]


def test_every_bad_row_is_reported(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject,label\na.jpg,s1,pain\nb.jpg,s1,ouch\nc.jpg,,pain\na.jpg,s2,no_pain\n")
    report = validate_manifest(manifest)
    assert not report.ok and report.rows == 0
    assert [e.split(": ", 1)[1].split(":")[0] for e in report.errors] == [
        "row 3, field 'label'",
        "row 4, field 'subject'",
        "row 5, field 'path'",
    ]
    manifest.write_text("file,subject\na.jpg,s1\n")
    assert "missing column(s) path" in validate_manifest(manifest).errors[0]
    manifest.write_bytes(b"path,subject\n\xff\xfe.jpg,s1\n")
    assert "not UTF-8" in validate_manifest(manifest).errors[0]


def test_no_images_checks_rows_only(tmp_path: Path) -> None:
    rows = [
        Sample(path="x.jpg", subject="s1", label="pain"),
        Sample(path="y.jpg", subject="s2", label="no_pain"),
    ]
    manifest = write_manifest(rows, tmp_path / "m.csv")
    assert validate_manifest(manifest, check_images=False).ok
    assert len(validate_manifest(manifest).errors) == 2


def test_mask_path_must_exist(good: Path) -> None:
    text = good.read_text().splitlines()
    header = text[0].split(",")
    first = text[1].split(",")
    first[header.index("mask_path")] = "masks/none.png"
    good.write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    errors = validate_manifest(good).errors
    assert errors == [f"{good}: row 2, field 'mask_path': 'masks/none.png' not found"]


def test_cli_validate_exit_codes(good: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(good)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "label pain" in result.output
    (good.parent / "imgs" / "s1_pain.jpg").unlink()
    result = runner.invoke(app, ["data", "validate", str(good)], env=WIDE)
    assert result.exit_code == 1
    assert "row 2, path 'imgs/s1_pain.jpg'" in result.output and "invalid: 1 error(s)" in result.output
    assert runner.invoke(app, ["data", "validate", str(good), "--no-images"], env=WIDE).exit_code == 0
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "nope.csv")], env=WIDE)
    assert result.exit_code == 1 and "manifest not found" in result.output
