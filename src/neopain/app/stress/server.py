"""A real ``neopain serve`` process on 127.0.0.1, and the checks run on its database after a crash."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """The server did not come up; the message carries the tail of its output."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """``neopain serve`` as a child process: start, wait until healthy, kill -9 or stop."""

    data_dir: Path
    model: Path
    port: int = field(default_factory=free_port)
    db_url: str | None = None  # PostgreSQL by URL; default: SQLite in the data dir
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        command = [
            sys.executable, "-c", "from neopain.cli import main; main()",
            "serve", "--model", str(self.model), "--host", LOOPBACK, "--port", str(self.port),
            "--workers", str(self.workers),
        ]  # fmt: skip
        env = {**os.environ, "NEOPAIN_DATA_DIR": str(self.data_dir), **self.env}
        env.pop("NEOPAIN_DB_URL", None)
        if self.db_url:
            env["NEOPAIN_DB_URL"] = self.db_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # A session of its own: kill -9 reaches every worker at once, like a power cut of the machine.
        self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts += 1
        self._wait_healthy(timeout_s)
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill9()
        raise ServerError(f"server not healthy after {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.is_file() else ""

    def kill9(self) -> None:
        """SIGKILL: no shutdown handler, no flush, exactly like a power cut of the process."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self.proc = None

    @property
    def database(self) -> str:
        """The server's database URL, for the checks."""
        return self.db_url or f"sqlite:///{self.data_dir / 'app' / 'neopain.db'}"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "app" / "images"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "app" / "quarantine"


def _rows(url: str, sql: str) -> list[tuple]:
    from neopain.app import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.exec_driver_sql(sql).all()]
    finally:
        engine.dispose()


def integrity_check(url: str) -> str:
    """SQLite's own check of every page and index: 'ok' or the first problems it found.

    PostgreSQL keeps its own pages consistent after a crash (write-ahead log): 'ok' when it answers.
    """
    if not url.startswith("sqlite"):
        return "ok" if _rows(url, "SELECT 1") == [(1,)] else "no answer"
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    return "; ".join(str(r[0]) for r in rows[:5])


@dataclass(frozen=True)
class StoredRecord:
    public_id: str
    client_frame_id: str
    image_name: str | None


def stored_records(url: str) -> list[StoredRecord]:
    return [StoredRecord(*row) for row in _rows(url, "SELECT public_id, client_frame_id, image_name FROM records")]


def frames_seen(url: str, assessments: set[str]) -> int:
    """Frames the server committed (saved or not) for these assessments."""
    return sum(n for public_id, n in _rows(url, "SELECT public_id, frames_seen FROM assessments")
               if public_id in assessments)


def image_files(images_dir: Path) -> set[str]:
    return {p.name for p in images_dir.glob("*/*") if p.is_file()} if images_dir.is_dir() else set()
