"""Saved images on disk: random names, atomic writes, outside any static folder."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(jpg|png|webp)$")
# A frame's explanation overlay sits beside it under a name derived from the frame's (random) name, so
# no database column is needed and deleting or purging the frame finds its overlay.
EXPLANATION_SUFFIX = "-ig.png"


def explanation_name(image_name: str) -> str:
    """The overlay's file name for the frame ``image_name`` (as unguessable as the frame's own name)."""
    return image_name.rsplit(".", 1)[0] + EXPLANATION_SUFFIX


class ImageStoreError(ValueError):
    """An image name that is not one of ours, or a file that is missing."""


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def new_name(self, suffix: str) -> str:
        while True:
            name = f"{secrets.token_urlsafe(24)}.{suffix}"
            if not name.endswith(EXPLANATION_SUFFIX):  # a frame is never mistaken for an overlay
                return name

    def path_of(self, name: str | None) -> Path:
        """Only names we generate are accepted, so no path can escape the folder."""
        if not name or not _NAME.match(name):
            raise ImageStoreError("not an image name of this store")
        return self.root / name[:2] / name

    def write(self, data: bytes, suffix: str) -> str:
        """Write to a temporary file, flush to disk, then rename; returns the new name."""
        name = self.new_name(suffix)
        path = self.path_of(name)
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", suffix=".part", dir=self._folder_of(path))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self.install(Path(tmp), name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def temp_path(self, name: str) -> Path:
        """A fresh temporary path in ``name``'s folder (removed at start if a crash leaves it behind)."""
        folder = self._folder_of(self.path_of(name))
        return folder / f".incoming-{secrets.token_urlsafe(12)}.part"

    def install(self, tmp: Path, name: str) -> None:
        """Flush a finished temporary file to disk and rename it to ``name`` (atomic)."""
        path = self.path_of(name)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # a worker's file (an overlay) is private like the frames
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # the rename itself must survive a power cut, not only the bytes

    def _folder_of(self, path: Path) -> Path:
        """The file's folder, created 0700 (the files themselves are 0600: ``mkstemp``)."""
        for folder in (self.root, path.parent):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path.parent

    def read(self, name: str | None) -> bytes:
        path = self.path_of(name)
        if not path.is_file():
            raise ImageStoreError("image file missing")
        return path.read_bytes()

    def size_of(self, name: str | None) -> tuple[int, int] | None:
        """(width, height) as displayed (EXIF orientation applied), or None if missing or unreadable."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.path_of(name)) as image:
                width, height = image.size
                # Orientations 5-8 turn the picture a quarter: the browser shows it height x width.
                if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                    return height, width
                return width, height
        except (OSError, UnidentifiedImageError, ImageStoreError, SyntaxError, ValueError):
            return None

    def delete(self, name: str) -> None:
        """Delete a frame and its explanation overlay, if any (the overlay shows the face too)."""
        self.path_of(name).unlink(missing_ok=True)
        if not name.endswith(EXPLANATION_SUFFIX):
            self.path_of(explanation_name(name)).unlink(missing_ok=True)

    def names(self) -> list[Path]:
        """Every file under the store (finished images and leftovers of interrupted writes)."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("*/*") if p.is_file()]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
