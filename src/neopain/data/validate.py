"""``validate_manifest``: is a manifest usable? Every error names the manifest file and the row."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from neopain.data.manifest import (
    REQUIRED_COLUMNS,
    ManifestError,
    Sample,
    duplicate_message,
    read_manifest,
    resolve_path,
    sample_from_record,
)
from neopain.pixels.imageio import ImageError, read_image
from neopain.pixels.videoio import VideoError, probe
from neopain.scales.nfcs import LABELS

EXIF_ORIENTATION = 0x0112
SWAPS_WIDTH_HEIGHT = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 degrees

Progress = Callable[[Iterable[Any]], Iterable[Any]]


@dataclass
class ValidationReport:
    """What ``validate_manifest`` found; ``ok`` is False when there is any error."""

    manifest: Path
    rows: int = 0
    images_checked: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    by_label: Counter[str] = field(default_factory=Counter)
    by_dataset: Counter[str] = field(default_factory=Counter)
    by_subject: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def subjects(self) -> int:
        return len(self.by_subject)


def image_size(file: Path, decode: bool = False) -> tuple[int, int]:
    """(width, height) as ``read_image`` would return it (EXIF rotation applied); ImageError if unreadable.

    Without ``decode`` only the header is checked (PIL ``verify``), which is fast but may miss a
    truncated JPEG; with it every pixel is decoded.
    """
    if not file.is_file():
        raise ImageError(f"{file}: image file not found")
    if decode:
        height, width = read_image(file).shape[:2]
        return width, height
    try:
        # verify() must come straight after open (reading EXIF from a PNG loads it), so open twice.
        with Image.open(file) as image:
            image.verify()
        with Image.open(file) as image:
            width, height = image.size
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception as exc:  # PIL raises many types for broken files; all mean "not a usable image"
        raise ImageError(f"{file}: cannot decode image ({exc})") from exc
    return (height, width) if orientation in SWAPS_WIDTH_HEIGHT else (width, height)


def _box_finding(box: tuple[float, float, float, float], width: int, height: int) -> tuple[str, str]:
    """('error'|'warning'|'', message) for a face box against the image size."""
    x, y, w, h = box
    shown = f"box ({x:g}, {y:g}, {w:g}, {h:g})"
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return "error", f"{shown} lies outside the {width}x{height} image"
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return "warning", f"{shown} extends past the border of the {width}x{height} image"
    return "", ""


def _every_row_error(file: Path) -> list[str]:
    """All row errors of a manifest that failed to read (read_manifest stops at the first)."""
    if not file.is_file():
        return []
    with open(file, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if any(c not in (reader.fieldnames or []) for c in REQUIRED_COLUMNS):
            return []
        errors: list[str] = []
        first_row: dict[str, int] = {}
        for row, record in enumerate(reader, start=2):
            try:
                sample = sample_from_record(record, file, row)
            except ManifestError as exc:
                errors.append(str(exc))
                continue
            if sample.key in first_row:
                message = duplicate_message(sample, first_row[sample.key])
                errors.append(f"{file}: row {row}, field 'path': {message}")
            first_row.setdefault(sample.key, row)
    return errors


def _read(file: Path, report: ValidationReport) -> list[Sample] | None:
    try:
        return read_manifest(file)
    except UnicodeDecodeError as exc:
        report.errors.append(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    except (ManifestError, csv.Error) as exc:
        report.errors.extend(_every_row_error(file) or [str(exc)])
    return None


def _count(samples: list[Sample], report: ValidationReport) -> None:
    for sample in samples:
        label = sample.label or "(unlabelled)"
        report.by_label[label] += 1
        report.by_dataset[sample.dataset or "(none)"] += 1
        report.by_subject.setdefault(sample.subject, Counter())[label] += 1


def _check_classes(report: ValidationReport) -> None:
    if report.rows == 0:
        report.errors.append(f"{report.manifest}: no rows")
        return
    labelled = sum(report.by_label[label] for label in LABELS)
    if labelled == 0:
        report.errors.append(f"{report.manifest}: no row has a label ({' or '.join(LABELS)})")
        return
    for label in LABELS:
        if report.by_label[label] == 0:
            report.errors.append(f"{report.manifest}: class '{label}' has no images")
    for subject, counts in sorted(report.by_subject.items()):
        present = [label for label in LABELS if counts[label]]
        if len(present) == 1:
            report.warnings.append(
                f"{report.manifest}: subject '{subject}' has images of '{present[0]}' only"
            )


def _video_size(manifest: Path, row: int, sample: Sample, report: ValidationReport) -> tuple[int, int]:
    """(width, height) of a video row that opens, decodes and holds its segment; VideoError otherwise."""
    info = probe(resolve_path(manifest, sample.path))
    # One frame of slack: a segment may end at the video's last frame time plus one frame.
    if sample.start is not None and sample.start >= info.duration_s:
        raise VideoError(f"the segment starts at {sample.start:g} s, the video lasts {info.duration_s:.3f} s")
    if sample.end is not None and sample.end > info.duration_s + 1 / info.fps:
        report.warnings.append(
            f"{manifest}: row {row}, path '{sample.path}': the segment ends at {sample.end:g} s, "
            f"after the video ({info.duration_s:.3f} s)"
        )
    return info.width, info.height


def _check_image(manifest: Path, row: int, sample: Sample, report: ValidationReport, decode: bool) -> None:
    where = f"{manifest}: row {row}, path '{sample.path}'"
    try:
        if sample.is_video:
            width, height = _video_size(manifest, row, sample, report)
        else:
            width, height = image_size(resolve_path(manifest, sample.path), decode)
    except (ImageError, VideoError) as exc:
        report.errors.append(f"{where}: {exc}")
        return
    if sample.box is not None:
        severity, message = _box_finding(sample.box, width, height)
        if severity:
            (report.errors if severity == "error" else report.warnings).append(f"{where}: {message}")
    if sample.mask_path and not resolve_path(manifest, sample.mask_path).is_file():
        report.errors.append(f"{manifest}: row {row}, field 'mask_path': '{sample.mask_path}' not found")


def validate_manifest(
    path: str | Path, check_images: bool = True, decode: bool = False, progress: Progress | None = None
) -> ValidationReport:
    """Read a manifest and check rows, images (exist, decode, boxes inside) and class balance.

    ``progress`` wraps the image loop (the CLI passes a progress bar).
    """
    manifest = Path(path)
    report = ValidationReport(manifest=manifest, images_checked=check_images)
    samples = _read(manifest, report)
    if samples is None:
        return report
    report.rows = len(samples)
    _count(samples, report)
    _check_classes(report)
    if check_images:
        rows = list(enumerate(samples, start=2))  # row 1 is the header, as a spreadsheet shows it
        for row, sample in progress(rows) if progress else rows:
            _check_image(manifest, row, sample, report, decode)
    return report
