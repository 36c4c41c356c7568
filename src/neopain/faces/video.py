"""Frames of a manifest's video rows: sampled at a rate, one decode per video for all its segments, and
optional per-frame face boxes (``truth.csv`` of the synthetic videos, or any annotated set).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neopain.data import ManifestError, Sample
from neopain.pixels.videoio import read_frames

Box = tuple[float, float, float, float]
BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")
VIDEO_COLUMNS = ("video", "path", "source_path")  # the first one present names the video
DEFAULT_FPS = 2.0


def segment_name(sample: Sample) -> str:
    """``0-10`` for a segment from 0 to 10 s, ``5-end`` for one from 5 s to the end of its video."""
    end = "end" if sample.end is None else f"{sample.end:g}"
    return f"{sample.start or 0:g}-{end}"


def frame_digest(frame: np.ndarray) -> str:
    """The cache's image hash for a decoded frame: its shape and pixels (a video has no per-frame file)."""
    digest = hashlib.sha256(f"{frame.shape}|{frame.dtype}".encode())
    digest.update(np.ascontiguousarray(frame).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class FrameBoxes:
    """Face boxes per (video file, frame index); a frame without a box has none (the face is out of view)."""

    boxes: dict[tuple[Path, int], Box]

    @classmethod
    def read(cls, file: str | Path) -> FrameBoxes:
        """A CSV with a video column (``video``, ``path`` or ``source_path``; paths relative to the CSV),
        ``frame`` and ``box_x, box_y, box_w, box_h`` (empty when there is no face)."""
        file = Path(file)
        if not file.is_file():
            raise ManifestError(f"{file}: frame boxes CSV not found")
        base = file.resolve().parent
        boxes: dict[tuple[Path, int], Box] = {}
        with open(file, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            video_col = next((c for c in VIDEO_COLUMNS if c in header), None)
            missing = [c for c in ("frame", *BOX_COLUMNS) if c not in header]
            if video_col is None or missing:
                wanted = ", ".join(missing or [" or ".join(VIDEO_COLUMNS)])
                raise ManifestError(f"{file}: frame boxes need column(s) {wanted}; header is {header}")
            for row, record in enumerate(reader, start=2):
                box = _box(file, row, record)
                if box is not None:
                    boxes[((base / record[video_col]).resolve(), _frame(file, row, record["frame"]))] = box
        return cls(boxes)

    def get(self, video: Path, frame: int) -> Box | None:
        return self.boxes.get((video.resolve(), frame))


def _frame(file: Path, row: int, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ManifestError(f"{file}: row {row}, field 'frame': '{value}' is not a frame index") from None


def _box(file: Path, row: int, record: dict[str, str]) -> Box | None:
    cells = [(record.get(c) or "").strip() for c in BOX_COLUMNS]
    if not any(cells):
        return None
    try:
        x, y, w, h = (float(c) for c in cells)
    except ValueError:
        raise ManifestError(f"{file}: row {row}: a face box needs four numbers, got {cells}") from None
    return (x, y, w, h)


def sampled_frames(
    video: Path, rows: Sequence[Sample], fps: float
) -> Iterator[tuple[int, float, np.ndarray, list[Sample]]]:
    """(index, t, frame, the rows whose segment holds t) for each frame sampled at ``fps``, one decode for
    all the video's rows; frames no row wants are skipped. VideoError (naming the file) when it fails."""
    last_end = max((r.end for r in rows if r.end is not None), default=None)
    whole = any(r.end is None for r in rows)
    for index, t, frame in read_frames(video, fps=fps):
        if not whole and last_end is not None and t >= last_end:
            return  # every segment is done: no need to decode the rest
        wanting = [r for r in rows if r.contains(t)]
        if wanting:
            yield index, t, frame, wanting
