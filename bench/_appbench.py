"""Shared by bench/load.py and bench/crash.py: the frames, the tiny model, the server's data dir."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from _report import emit

__all__ = ["emit"]  # load.py and crash.py take it from here with the rest

ROOT = Path(__file__).resolve().parents[1]


def phone_frames(width: int = 640, height: int = 480) -> tuple[bytes, bytes]:
    """(a frame with a face, a frame without) as a phone sends them: 640x480 JPEG, quality 85."""
    import skimage.data

    face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    face = cv2.resize(face, (height, height), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 90, np.uint8)
    x0 = (width - height) // 2
    canvas[:, x0 : x0 + height] = face
    quality = [cv2.IMWRITE_JPEG_QUALITY, 85]
    empty = np.full((height, width, 3), 128, np.uint8)
    return cv2.imencode(".jpg", canvas, quality)[1].tobytes(), cv2.imencode(".jpg", empty, quality)[
        1
    ].tobytes()


def model_or_tiny(model: Path | None, folder: Path) -> Path:
    """The given ONNX classifier, or the app tests' tiny untrained MobileNetV2 (64 px) exported here."""
    if model is not None:
        return model
    sys.path.insert(0, str(ROOT / "tests" / "app"))
    from _appkit import build_tiny_onnx

    return build_tiny_onnx(folder)


@contextmanager
def work_dir(given: Path | None) -> Iterator[Path]:
    """The given data dir (kept), or a temp one removed after the run (a bench run leaves no disk behind)."""
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="neopain-bench-") as tmp:
        yield Path(tmp)


def add_server_options(parser) -> None:  # type: ignore[no-untyped-def]
    parser.add_argument("--workers", type=int, default=1, help="server processes (`neopain serve --workers`)")
    parser.add_argument("--postgres", action="store_true",
                        help="serve on a throw-away PostgreSQL cluster (Debian's postgresql package)")


@contextmanager
def server_database(postgres: bool) -> Iterator[str | None]:
    """A fresh PostgreSQL database URL for the run (the cluster is removed after), or None for SQLite."""
    if not postgres:
        yield None
        return
    from neopain.app.stress.postgres import PostgresServer

    cluster = PostgresServer().start()
    try:
        yield cluster.new_database()
    finally:
        cluster.stop()
