"""Reading and writing videos: one decoder for every stage, errors that name the file, atomic writes.

``probe`` refuses what cannot be scored in time (a file that will not open or decode, no frame rate, no
frames); ``read_frames`` yields (index, seconds, BGR frame), optionally sampled down to a rate, and ends
with a ``VideoError`` naming the frame when decoding fails mid-file, never with a silently short clip.
``write_video`` writes MJPG in AVI, byte-identical for identical frames (checked by tests/test_videoio.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neopain.core.atomic import atomic_path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# A frame rate above this is a container's time base, not a camera's.
MAX_FPS = 1000.0
# The codec per suffix write_video accepts: MJPG in AVI is deterministic with this OpenCV/FFmpeg build (the
# same frames give the same bytes), widely decodable and intra-only (every frame decodes on its own).
_WRITE_CODECS = {".avi": "MJPG"}


class VideoError(ValueError):
    """A video could not be read or written; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frames: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def is_video_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{path}: cannot open video (unknown format or codec)")
    return capture


def _count(path: Path) -> int:
    """Frames counted by demuxing, for containers that do not state their count."""
    capture = _open(path)
    try:
        n = 0
        while capture.grab():
            n += 1
        return n
    finally:
        capture.release()


def probe(path: str | Path) -> VideoInfo:
    """The video's frame rate, frame count and size; VideoError unless it opens, decodes and has a rate."""
    path = Path(path)
    capture = _open(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, first = capture.read()
    finally:
        capture.release()
    if not ok or first is None:
        raise VideoError(f"{path}: cannot decode video (no readable frame)")
    if not math.isfinite(fps) or fps <= 0 or fps > MAX_FPS:
        raise VideoError(f"{path}: no usable frame rate (the file says {fps:g} frames/s)")
    if frames <= 0:
        frames = _count(path)
    if frames <= 0:
        raise VideoError(f"{path}: the video holds no frames")
    height, width = first.shape[:2]
    return VideoInfo(path, fps, frames, int(width), int(height))


def _kept(index: int, step: float | None) -> bool:
    """Whether frame ``index`` is the nearest to a tick k * step (in frames); every one when ``step`` is None.

    Tick k keeps frame floor(k * step + 0.5): frame i is kept when the k with i - 0.5 <= k * step < i + 0.5
    exists (step > 1, so at most one does).
    """
    if step is None:
        return True
    k = math.ceil((index - 0.5) / step)
    return k * step < index + 0.5


def _truncated(index: int, frames: int) -> bool:
    """Decoding stopped clearly short of the stated count (containers may estimate it: 1 % slack)."""
    return frames - index > max(1, round(0.01 * frames))


def read_frames(path: str | Path, fps: float | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, seconds = index / native fps, BGR uint8 frame), every frame or sampled at ``fps``.

    VideoError naming the file (and the frame) when it cannot be opened or decoded, or decoding fails
    before its end.
    """
    path = Path(path)
    if fps is not None and (not math.isfinite(fps) or fps <= 0):
        raise VideoError(f"{path}: sampling rate {fps} frames/s must be above 0")
    info = probe(path)
    step = None if fps is None or fps >= info.fps else info.fps / fps
    capture = _open(path)
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                # A frame that will not decode followed by more data is corruption, not the end.
                if capture.grab() or _truncated(index, info.frames):
                    raise VideoError(f"{path}: frame {index} cannot be decoded (of {info.frames}; file "
                                     "corrupt or truncated)")
                return
            if _kept(index, step):
                yield index, index / info.fps, frame
            index += 1
    finally:
        capture.release()


def _checked(path: Path, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The frames, each checked to be BGR uint8 of the first frame's size (cv2 drops others silently)."""
    shape = None
    for i, frame in enumerate(frames):
        array = isinstance(frame, np.ndarray) and frame.dtype == np.uint8
        if not array or frame.ndim != 3 or frame.shape[2] != 3:
            got = getattr(frame, "shape", type(frame))
            raise VideoError(f"{path}: frame {i} is not a BGR uint8 image ({got})")
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise VideoError(f"{path}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, the first "
                             f"{shape[1]}x{shape[0]}")
        yield frame


def _encode(target: Path, name: Path, frames: Iterable[np.ndarray], fps: float, codec: str) -> None:
    writer: cv2.VideoWriter | None = None
    try:
        for frame in _checked(name, frames):
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), fps, size)
                if not writer.isOpened():
                    raise VideoError(f"{name}: cannot open a {codec} writer")
            writer.write(np.ascontiguousarray(frame))
        if writer is None:
            raise VideoError(f"{name}: no frames to write")
    finally:
        if writer is not None:
            writer.release()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Write BGR uint8 ``frames`` at ``fps`` atomically (MJPG in .avi); VideoError leaves nothing behind."""
    path = Path(path)
    codec = _WRITE_CODECS.get(path.suffix.lower())
    if codec is None:
        raise VideoError(f"{path}: cannot write {path.suffix or 'no suffix'}; write one of "
                         f"{', '.join(_WRITE_CODECS)}")
    if not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise VideoError(f"{path}: frame rate {fps} must be in (0, {MAX_FPS:g}]")
    with atomic_path(path) as tmp:
        # OpenCV picks the container from the suffix: encode to a name ending in it, then onto atomic's temp.
        staging = tmp.with_name(tmp.name + path.suffix)
        try:
            _encode(staging, path, frames, fps, codec)
            os.replace(staging, tmp)
        finally:
            staging.unlink(missing_ok=True)
    return path
