"""Manifest in, face crops and a faces manifest out: ``extract_faces``.

For each row: read the image bytes, look the crop up in the cache (image sha256, detector, settings),
else decode (EXIF honoured), detect, choose a face, crop, and cache. A video row is sampled at ``fps``
and each frame handled as an image (its pixels hashed for the cache), one output row per frame with its
``frame`` index and time ``t``. Output under ``out_dir``: ``crops/`` and ``masks/`` (PNG), ``faces.csv``
(a manifest of crops), ``missed.csv`` (rows or frames without a face, with the reason) and
``several.csv`` (rows where more than one face was found).
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

from neopain.core.atomic import atomic_write_text
from neopain.core.config import get_settings
from neopain.core.log import get_logger
from neopain.data import Sample, read_manifest, resolve_path, write_manifest
from neopain.faces.base import DetectorInputError, Face, FaceDetector, choose_face, create_detector
from neopain.faces.cache import CacheEntry, CropCache, atomic_write_bytes, sha256_bytes, write_if_changed
from neopain.faces.crop import CROP_FILE, CropSettings, crop_mask, crop_with
from neopain.faces.video import DEFAULT_FPS, FrameBoxes, frame_digest, sampled_frames, segment_name
from neopain.pixels.imageio import ImageError, read_image
from neopain.pixels.videoio import VideoError

# A second look at an image in which the detector found no face (None: the detector's answer stands).
LookAgain = Callable[[np.ndarray], list[Face]]
T = TypeVar("T")
Progress = Callable[[Iterable[T], int], Iterable[T]]

log = get_logger(__name__)

NO_FACE = "no face detected"


@dataclass
class ExtractSummary:
    """Counts and lists of one extraction run."""

    total: int = 0  # images and video frames tried
    found: int = 0
    cached: int = 0
    unaligned: int = 0
    videos: int = 0
    frames: int = 0
    missed: list[tuple[str, str]] = field(default_factory=list)
    several: list[tuple[str, int]] = field(default_factory=list)
    faces_manifest: Path | None = None
    missed_csv: Path | None = None
    several_csv: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        counts = {
            "images": self.total,
            "found": self.found,
            "missed": len(self.missed),
            "several": len(self.several),
            "from_cache": self.cached,
            "unaligned": self.unaligned,
        }
        return {**counts, "videos": self.videos, "frames": self.frames} if self.videos else counts


class RowMissed(Exception):
    """A row yields no crop; the message is the reason written to missed.csv."""


@dataclass(frozen=True)
class _Outputs:
    crop: Path
    mask: Path


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def output_stems(samples: Sequence[Sample]) -> dict[str, PurePosixPath]:
    """A unique relative stem per manifest row (``Sample.key``): its folders and name without suffix (and a
    video segment's times), plus a short hash when two would collide (``a.jpg`` and ``a.png``) or the path
    leaves the manifest's folder. A video row's frames go into a folder of that name."""
    stems: dict[str, PurePosixPath] = {}
    for sample in samples:
        path = PurePosixPath(sample.path.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in sample.path:
            stem = PurePosixPath("external") / f"{path.stem}-{_short_hash(sample.path)}"
        else:
            stem = path.with_suffix("")
        if sample.key != sample.path:  # a segment of a video
            stem = stem / segment_name(sample)
        stems[sample.key] = stem
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
        fps: float = DEFAULT_FPS,
        frame_boxes: FrameBoxes | None = None,
        look_again: LookAgain | None = None,
    ) -> None:
        self.manifest, self.out_dir, self.detector = manifest, out_dir, detector
        self.settings, self.cache, self.stems = settings, cache, stems
        self.fps, self.frame_boxes = fps, frame_boxes
        # The box detector reads the manifest's box: there is nothing to look at again.
        self.look_again = None if detector.name == "box" else look_again

    def outputs(self, sample: Sample) -> _Outputs:
        stem = self.stems[sample.key]
        return _Outputs(self.out_dir / "crops" / f"{stem}.png", self.out_dir / "masks" / f"{stem}.png")

    def entry(self, sample: Sample, image_path: Path) -> tuple[CacheEntry, bool]:
        """The cached entry for this row, or a fresh one (then cached); and whether it was a hit."""
        try:
            data = image_path.read_bytes()
        except OSError as exc:
            raise RowMissed(f"unreadable image: {exc.strerror or exc}") from exc
        return self._cached(sha256_bytes(data), sample, lambda: read_image(image_path))

    def _cached(self, digest: str, sample: Sample, load: Callable[[], np.ndarray]) -> tuple[CacheEntry, bool]:
        tag = self.detector.cache_tag(sample) + ("+second-look" if self.look_again else "")
        key = self.cache.key(digest, tag, self.settings)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        try:
            image = load()
            faces = self.detector.detect_sample(image, sample)
            if not faces and self.look_again is not None:
                faces = self.look_again(image)
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
            landmarks=_landmarks(entry.face),
            mask_path=mask_path,
        )


    def frame_row(
        self, sample: Sample, video: Path, index: int, t: float, frame: np.ndarray, summary: ExtractSummary
    ) -> Sample:
        """Crop one sampled frame of a video row; raises RowMissed with the reason."""
        box = sample.box
        if self.frame_boxes is not None:
            box = self.frame_boxes.get(video, index)
            if box is None and self.detector.name == "box":
                raise RowMissed("no face box for this frame in the frame boxes (the face is out of view)")
        entry, hit = self._cached(frame_digest(frame), sample.with_(box=box), lambda: frame)
        summary.cached += hit
        if entry.face is None:
            raise RowMissed(NO_FACE)
        crop = self.out_dir / "crops" / self.stems[sample.key] / f"f{index:06d}.png"
        if len(entry.faces) > 1:
            summary.several.append((f"{sample.path}#frame={index}", len(entry.faces)))
        assert entry.crop_png is not None
        write_if_changed(crop, entry.crop_png)
        summary.unaligned += self.settings.align and not entry.aligned
        return sample.with_(
            path=crop.relative_to(self.out_dir).as_posix(),
            source_path=_relative_to(video, self.out_dir),
            box=tuple(float(v) for v in entry.face.box),
            landmarks=_landmarks(entry.face),
            mask_path="",
            frame=index,
            t=round(t, 6),
        )

    def video(self, rows: list[Sample], summary: ExtractSummary) -> list[Sample]:
        """Every sampled frame of one video for all its rows (segments), one decode; misses say why."""
        video = resolve_path(self.manifest, rows[0].path)
        found: list[Sample] = []
        seen: set[str] = set()
        summary.videos += 1
        try:
            for index, t, frame, wanting in sampled_frames(video, rows, self.fps):
                summary.frames += 1
                for sample in wanting:
                    seen.add(sample.key)
                    try:
                        found.append(self.frame_row(sample, video, index, t, frame, summary))
                    except RowMissed as reason:
                        summary.missed.append((sample.path, f"frame {index} (t {t:.3f} s): {reason}"))
        except VideoError as exc:
            summary.missed.extend((s.path, f"unreadable video: {exc}") for s in rows)
            return found
        for sample in rows:
            if sample.key not in seen:
                where = f"{segment_name(sample)} s"
                summary.missed.append((sample.path, f"no frame sampled in {where} at {self.fps:g} frames/s"))
        return found


def _units(manifest: Path, samples: Sequence[Sample]) -> list[Sample | list[Sample]]:
    """The work in manifest order: each image row, and each video (all its rows) where it first shows."""
    units: list[Sample | list[Sample]] = []
    videos: dict[Path, list[Sample]] = {}
    for sample in samples:
        if not sample.is_video:
            units.append(sample)
            continue
        path = resolve_path(manifest, sample.path).resolve()
        if path not in videos:
            videos[path] = []
            units.append(videos[path])
        videos[path].append(sample)
    return units


def _landmarks(face: Face) -> tuple[float, ...] | None:
    """The chosen face's five points in image pixels, kept so the regions can be placed on the face."""
    return None if face.landmarks is None else tuple(round(float(v), 2) for v in face.landmarks.ravel())


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
    fps: float = DEFAULT_FPS,
    frame_boxes: str | Path | None = None,
    look_again: LookAgain | None = None,
    **detector_kwargs: Any,
) -> ExtractSummary:
    """Detect, choose and crop the face of every manifest row; write crops and the faces manifest.

    ``detector`` is a name for ``create_detector`` (``detector_kwargs`` go to it) or a ready detector;
    ``progress(units, total)`` may wrap the iterator over images and videos (a progress bar);
    ``cache_dir`` defaults to ``settings.cache_dir/faces``. Video rows are sampled at ``fps`` frames per
    second; ``frame_boxes`` is a CSV of per-frame boxes (video, frame, box_*) for the ``box`` detector.
    ``look_again(image)`` is asked for the faces of an image in which the detector found none (the
    bedside's second look under the lamps and at night: ``neopain.inference.look_again_under_lights``).
    Unreadable images or videos and rows or frames without a face end in missed.csv.
    """
    settings = settings or CropSettings()
    if not fps > 0:
        raise ValueError(f"frames per second must be above 0, got {fps}")
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    samples = read_manifest(manifest_path)
    boxes = FrameBoxes.read(frame_boxes) if frame_boxes is not None else None
    if isinstance(detector, str):
        detector = create_detector(detector, **detector_kwargs)
    cache = CropCache(cache_dir if cache_dir is not None else default_cache_dir())
    stems = output_stems(samples)
    extractor = _Extractor(manifest_path, out_dir, detector, settings, cache, stems, fps, boxes, look_again)
    summary = ExtractSummary()
    rows: list[Sample] = []
    units = _units(manifest_path, samples)
    for unit in progress(units, len(units)) if progress else units:
        if isinstance(unit, list):
            rows.extend(extractor.video(unit, summary))
            continue
        try:
            rows.append(extractor.row(unit, summary))
        except RowMissed as reason:
            summary.missed.append((unit.path, str(reason)))
    summary.found = len(rows)
    summary.total = summary.found + len(summary.missed)
    summary.faces_manifest = write_manifest(rows, out_dir / "faces.csv")
    # Training records these, export carries them into the model: serving must cut faces the same way.
    atomic_write_text(out_dir / CROP_FILE, json.dumps({**asdict(settings), "detector": detector.name}, indent=2) + "\n")
    summary.missed_csv = _write_csv(out_dir / "missed.csv", ("path", "reason"), summary.missed)
    summary.several_csv = _write_csv(out_dir / "several.csv", ("path", "faces"), summary.several)
    log.debug("faces (%s): %s", detector.name, summary.as_dict())
    return summary
