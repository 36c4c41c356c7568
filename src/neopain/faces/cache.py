"""On-disk cache of detections and crops, keyed by (image bytes, detector, crop settings).

An entry is ``<root>/<key[:2]>/<key>.png`` (the crop, absent when no face was found) and
``<key>.json`` (faces, choice, affine). Both are written to a temporary file and renamed, the JSON last,
so an entry is either whole or absent: a crash never leaves half an entry that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neopain.core.atomic import atomic_write_bytes
from neopain.faces.base import Face
from neopain.faces.crop import CropSettings

CACHE_VERSION = "1"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless the file already holds exactly ``data``; True if written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


@dataclass
class CacheEntry:
    """What detection and cropping gave for one image: all faces, the chosen one, its crop (PNG bytes)
    and the (height, width) of the image the affine applies to."""

    faces: list[Face]
    chosen: int | None = None
    affine: np.ndarray | None = None
    aligned: bool = False
    image_shape: tuple[int, int] = (0, 0)
    crop_png: bytes | None = field(default=None, repr=False)

    @property
    def face(self) -> Face | None:
        return None if self.chosen is None else self.faces[self.chosen]

    def meta(self) -> dict[str, object]:
        return {
            "version": CACHE_VERSION,
            "faces": [f.to_dict() for f in self.faces],
            "chosen": self.chosen,
            "affine": None if self.affine is None else np.asarray(self.affine).tolist(),
            "aligned": self.aligned,
            "image_shape": list(self.image_shape),
            "crop_sha256": None if self.crop_png is None else sha256_bytes(self.crop_png),
        }


class CropCache:
    """A folder of cache entries; ``get`` returns None for anything missing, stale or damaged."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(image_sha256: str, detector_tag: str, settings: CropSettings) -> str:
        text = f"v{CACHE_VERSION}|{image_sha256}|{detector_tag}|{settings.key()}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.json", folder / f"{key}.png"

    def get(self, key: str) -> CacheEntry | None:
        meta_path, png_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("version") != CACHE_VERSION:
                return None
            crop_png = png_path.read_bytes() if meta["crop_sha256"] is not None else None
            if crop_png is not None and sha256_bytes(crop_png) != meta["crop_sha256"]:
                return None  # the PNG was replaced behind our back: recompute
            return _entry_from_meta(meta, crop_png)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None  # missing or damaged entries are recomputed, never trusted

    def put(self, key: str, entry: CacheEntry) -> None:
        meta_path, png_path = self._paths(key)
        if entry.crop_png is not None:
            atomic_write_bytes(png_path, entry.crop_png)
        atomic_write_bytes(meta_path, json.dumps(entry.meta(), indent=1).encode())


def _entry_from_meta(meta: dict, crop_png: bytes | None) -> CacheEntry:
    affine = None if meta["affine"] is None else np.asarray(meta["affine"], dtype=np.float64).reshape(2, 3)
    faces = [Face.from_dict(f) for f in meta["faces"]]
    shape = (int(meta["image_shape"][0]), int(meta["image_shape"][1]))
    return CacheEntry(faces, meta["chosen"], affine, bool(meta["aligned"]), shape, crop_png)
