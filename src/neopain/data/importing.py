"""What every dataset adapter shares: the import result, walking image or video files, portable paths."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from neopain.data.manifest import Sample, write_manifest
from neopain.pixels.imageio import IMAGE_SUFFIXES, is_image_file
from neopain.pixels.videoio import VIDEO_SUFFIXES, is_video_file


class DatasetError(ValueError):
    """A dataset cannot be imported at all (missing folder, no images, missing column)."""


class Problem(NamedTuple):
    """One file or CSV row an adapter skipped or wants the user to look at."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ImportResult:
    """The outcome of an adapter: rows for the manifest plus everything it could not use.

    ``problems`` are files or rows that were NOT imported; ``warnings`` concern rows that were
    imported but deserve a look (an unknown stimulus, an image without a label row, ...).
    Sample paths are absolute; ``write`` makes them relative to the manifest when it can.
    """

    dataset: str
    source: Path
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def skip(self, where: str | Path, reason: str) -> None:
        self.problems.append(Problem(str(where), reason))

    def warn(self, where: str | Path, reason: str) -> None:
        self.warnings.append(Problem(str(where), reason))

    def write(self, out: str | Path) -> Path:
        """Write the manifest atomically, with paths relative to its folder where possible."""
        out = Path(out)
        return write_manifest(portable_samples(self.samples, out), out)


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def walk_images(root: str | Path, result: ImportResult | None = None) -> list[Path]:
    """Image files under ``root`` (recursive, sorted, absolute).

    Hidden files and folders (``.DS_Store``, ``.git``) are ignored. Other non-image files are not
    silently dropped: one warning per suffix goes to ``result`` (``.heic x40`` shows a format we
    do not read). Raises DatasetError when ``root`` is missing or holds no image at all.
    """
    return _walk(root, result, is_image_file, "image", IMAGE_SUFFIXES)


def walk_videos(root: str | Path, result: ImportResult | None = None) -> list[Path]:
    """Video files under ``root``, as ``walk_images`` finds images (other files warned about by suffix)."""
    return _walk(root, result, is_video_file, "video", VIDEO_SUFFIXES)


def _walk(
    root: str | Path,
    result: ImportResult | None,
    wanted: Callable[[Path], bool],
    kind: str,
    suffixes: Sequence[str],
) -> list[Path]:
    root = Path(root).resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: {'not a folder' if root.exists() else 'folder not found'}")
    found: list[Path] = []
    others: Counter[str] = Counter()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath) / name
            if _is_hidden(path, root):
                continue
            if wanted(path):
                found.append(path)
            else:
                others[path.suffix.lower() or "(no suffix)"] += 1
    if not found:
        raise DatasetError(f"{root}: no {kind} files found (looked for {', '.join(suffixes)}, any case)")
    if others and result is not None:
        kinds = ", ".join(f"{suffix} x{n}" for suffix, n in sorted(others.items()))
        result.warn(root, f"{sum(others.values())} non-{kind} file(s) skipped ({kinds})")
    return sorted(found)


def relative_name(path: Path, root: Path) -> str:
    """A path shown to the user: relative to the dataset root when inside it (never a bare absolute)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def portable_path(image: str | Path, manifest_file: str | Path) -> str:
    """The path a manifest stores for ``image``.

    Relative to the manifest's folder (``../`` allowed) when the two share a folder below the
    filesystem root, so moving data and manifest together keeps it valid; absolute otherwise
    (another drive, or nothing in common but ``/``).
    """
    image = Path(image).resolve()
    folder = Path(manifest_file).resolve().parent
    try:
        common = Path(os.path.commonpath([image, folder]))
    except ValueError:  # different drives on Windows
        return str(image)
    if common == Path(common.anchor):
        return str(image)
    return Path(os.path.relpath(image, folder)).as_posix()


def portable_samples(samples: Iterable[Sample], manifest_file: str | Path) -> list[Sample]:
    """Samples with ``path``, ``mask_path`` and ``source_path`` made portable for ``manifest_file``."""

    def convert(value: str) -> str:
        return portable_path(value, manifest_file) if value else value

    return [
        s.with_(path=convert(s.path), mask_path=convert(s.mask_path), source_path=convert(s.source_path))
        for s in samples
    ]
