"""End-to-end helpers: a fake-camera video, a real server process, and the Chromium flags."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

CHROMIUM = "/usr/bin/chromium"
# Registering the app's commands explicitly keeps this independent of which modules neopain.cli imports.
CLI = "import neopain.cli.serve, neopain.cli.accounts, neopain.cli.labelled; from neopain.cli.apps import app; app()"


def chromium_args(video: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video.resolve()}",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """I420 frames with the header Chromium's fake camera reads (C420jpeg, not ffmpeg's C420mpeg2)."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            fh.write(b"FRAME\n")
            fh.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def face_then_blank_video(path: Path, face_frames: int = 40, blank_frames: int = 40) -> Path:
    """The astronaut's face on a 640x480 canvas, then frames without a face (the file loops)."""
    import skimage.data

    face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    face = cv2.resize(face, (480, 480), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[:, 80:560] = face
    blank = np.full((480, 640, 3), 150, np.uint8)
    cv2.rectangle(blank, (100, 120), (540, 360), (90, 120, 160), -1)  # a cot sheet, no face
    return write_y4m(path, [canvas] * face_frames + [blank] * blank_frames)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Server:
    """`neopain serve` in a child process, stopped (by its own pid) at the end."""

    def __init__(self, args: list[str], env: dict[str, str], url: str) -> None:
        self.url = url
        self.log = Path(env["NEOPAIN_DATA_DIR"]) / "server.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115  (open as long as the server runs)
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLI, "serve", *args],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2, verify=False).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError(f"server not ready: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log_file.close()


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEOPAIN_DB")}
    env["NEOPAIN_DATA_DIR"] = str(data_dir)
    return env
