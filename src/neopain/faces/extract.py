"""Manifest in, face crops and a faces manifest out: ``extract_faces``.

For each row: read the image bytes, look the crop up in the cache (image sha256, detector, settings),
else decode (EXIF honoured), detect, choose a face, crop, and cache. Output under ``out_dir``:
``crops/`` and ``masks/`` (PNG), ``faces.csv`` (a manifest of crops), ``missed.csv`` (rows without a
face, with the reason) and ``several.csv`` (rows where more than one face was found).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import cv2
import numpy as np

from neopain.atomic import atomic_write_text
from neopain.config import get_settings
from neopain.data import Sample, read_manifest, resolve_path, write_manifest
from neopain.faces.base import DetectorInputError, Face, FaceDetector, choose_face, create_detector
from neopain.faces.cache import CacheEntry, CropCache, atomic_write_bytes, sha256_bytes, write_if_changed
from neopain.faces.crop import CROP_FILE, CropSettings, crop_mask, crop_with
from neopain.imageio import ImageError, read_image
from neopain.log import get_logger

T = TypeVar("T")
Progress = Callable[[Iterable[T], int], Iterable[T]]

log = get_logger(__name__)

NO_FACE = "no face detected"


@dataclass
class ExtractSummary:
    """Counts and lists of one extraction run."""

    total: int = 0
    found: int = 0
    cached: int = 0
    unaligned: int = 0
    missed: list[tuple[str, str]] = field(default_factory=list)
    several: list[tuple[str, int]] = field(default_factory=list)
    faces_manifest: Path | None = None
    missed_csv: Path | None = None
    several_csv: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": self.total,
            "found": self.found,
            "missed": len(self.missed),
            "several": len(self.several),
            "from_cache": self.cached,
            "unaligned": self.unaligned,
        }


class RowMissed(Exception):
    """A row yields no crop; the message is the reason written to missed.csv."""


@dataclass(frozen=True)
class _Outputs:
    crop: Path
    mask: Path


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def output_stems(samples: Sequence[Sample]) -> dict[str, PurePosixPath]:
    """A unique relative stem per manifest path: its folders and name without suffix, plus a short hash
    when two paths would collide (``a.jpg`` and ``a.png``) or the path leaves the manifest's folder."""
    stems: dict[str, PurePosixPath] = {}
    for sample in samples:
        path = PurePosixPath(sample.path.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in sample.path:
            stems[sample.path] = PurePosixPath("external") / f"{path.stem}-{_short_hash(sample.path)}"
        else:
            stems[sample.path] = path.with_suffix("")
    counts = Counter(stems.values())
    for key, stem in stems.items():
        if counts[stem] > 1:
            stems[key] = stem.with_name(f"{stem.name}-{_short_hash(key)}")
    return stems


def build_entry(image: np.ndarray, faces: list[Face], settings: CropSettings) -> CacheEntry:
    """Choose a face among ``faces`` and crop it; an entry with no crop when there is none."""
    shape = (int(image.shape[0]), int(image.shape[1]))
    face = choose_face(faces)
    if face is None:
        return CacheEntry(faces=faces, image_shape=shape)
    crop, affine = crop_with(image, face, settings)
    ok, png = cv2.imencode(".png", crop)
    if not ok:
        raise ImageError(f"cannot encode a crop of shape {crop.shape}")
    aligned = settings.align and face.landmarks is not None
    return CacheEntry(faces, faces.index(face), affine, aligned, shape, png.tobytes())


class _Extractor:
    """The per-row work of one run, with its detector, cache and output folders."""

    def __init__(
        self,
        manifest: Path,
        out_dir: Path,
        detector: FaceDetector,
        settings: CropSettings,
        cache: CropCache,
        stems: dict[str, PurePosixPath],
    ) -> None:
        self.manifest, self.out_dir, self.detector = manifest, out_dir, detector
        self.settings, self.cache, self.stems = settings, cache, stems

    def outputs(self, sample: Sample) -> _Outputs:
        stem = self.stems[sample.path]
        return _Outputs(self.out_dir / "crops" / f"{stem}.png", self.out_dir / "masks" / f"{stem}.png")

    def entry(self, sample: Sample, image_path: Path) -> tuple[CacheEntry, bool]:
        """The cached entry for this row, or a fresh one (then cached); and whether it was a hit."""
        try:
            data = image_path.read_bytes()
        except OSError as exc:
            raise RowMissed(f"unreadable image: {exc.strerror or exc}") from exc
        key = self.cache.key(sha256_bytes(data), self.detector.cache_tag(sample), self.settings)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        try:
            image = read_image(image_path)
            faces = self.detector.detect_sample(image, sample)
        except ImageError as exc:
            raise RowMissed(f"unreadable image: {exc}") from exc
        except DetectorInputError as exc:
            raise RowMissed(str(exc)) from exc
        entry = build_entry(image, faces, self.settings)
        self.cache.put(key, entry)
        return entry, False

    def mask(self, sample: Sample, entry: CacheEntry, target: Path) -> str:
        """Cut the row's region mask with the crop's affine; returns its path relative to out_dir."""
        mask_file = resolve_path(self.manifest, sample.mask_path)
        mask = cv2.imread(str(mask_file), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise RowMissed(f"unreadable mask: {mask_file}")
        if mask.shape[:2] != entry.image_shape:
            raise RowMissed(
                f"mask {mask_file} is {mask.shape[1]}x{mask.shape[0]}, its image is "
                f"{entry.image_shape[1]}x{entry.image_shape[0]}"
            )
        assert entry.affine is not None
        ok, png = cv2.imencode(".png", crop_mask(mask, entry.affine, self.settings.size))
        if not ok:
            raise RowMissed(f"cannot encode the cropped mask of {mask_file}")
        write_if_changed(target, png.tobytes())
        return target.relative_to(self.out_dir).as_posix()

    def row(self, sample: Sample, summary: ExtractSummary) -> Sample:
        """Crop one row and return its faces-manifest row; raises RowMissed with the reason."""
        image_path = resolve_path(self.manifest, sample.path)
        entry, hit = self.entry(sample, image_path)
        summary.cached += hit
        if entry.face is None:
            raise RowMissed(NO_FACE)
        outputs = self.outputs(sample)
        mask_path = self.mask(sample, entry, outputs.mask) if sample.mask_path else ""
        if len(entry.faces) > 1:
            summary.several.append((sample.path, len(entry.faces)))
        assert entry.crop_png is not None
        write_if_changed(outputs.crop, entry.crop_png)
        summary.unaligned += self.settings.align and not entry.aligned
        return sample.with_(
            path=outputs.crop.relative_to(self.out_dir).as_posix(),
            source_path=_relative_to(image_path, self.out_dir),
            box=tuple(float(v) for v in entry.face.box),
            mask_path=mask_path,
        )


def _relative_to(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when possible (so an output folder can move with its data)."""
    try:
        return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def default_cache_dir() -> Path:
    return Path(get_settings().cache_dir) / "faces"


def extract_faces(
    manifest_path: str | Path,
    out_dir: str | Path,
    detector: str | FaceDetector = "yunet",
    settings: CropSettings | None = None,
    progress: Progress | None = None,
    cache_dir: str | Path | None = None,
    **detector_kwargs: Any,
) -> ExtractSummary:
    """Detect, choose and crop the face of every manifest row; write crops and the faces manifest.

    ``detector`` is a name for ``create_detector`` (``detector_kwargs`` go to it) or a ready detector;
    ``progress(rows, total)`` may wrap the row iterator (a progress bar); ``cache_dir`` defaults to
    ``settings.cache_dir/faces``. Unreadable images and rows without a face end in missed.csv.
    """
    settings = settings or CropSettings()
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    samples = read_manifest(manifest_path)
    if isinstance(detector, str):
        detector = create_detector(detector, **detector_kwargs)
    cache = CropCache(cache_dir if cache_dir is not None else default_cache_dir())
    extractor = _Extractor(manifest_path, out_dir, detector, settings, cache, output_stems(samples))
    summary = ExtractSummary(total=len(samples))
    rows: list[Sample] = []
    for sample in progress(samples, len(samples)) if progress else samples:
        try:
            rows.append(extractor.row(sample, summary))
        except RowMissed as reason:
            summary.missed.append((sample.path, str(reason)))
    summary.found = len(rows)
    summary.faces_manifest = write_manifest(rows, out_dir / "faces.csv")
    # Training records these, export carries them into the model: serving must cut faces the same way.
    atomic_write_text(out_dir / CROP_FILE, json.dumps({**asdict(settings), "detector": detector.name}, indent=2) + "\n")
    summary.missed_csv = _write_csv(out_dir / "missed.csv", ("path", "reason"), summary.missed)
    summary.several_csv = _write_csv(out_dir / "several.csv", ("path", "faces"), summary.several)
    log.debug("faces (%s): %s", detector.name, summary.as_dict())
    return summary
