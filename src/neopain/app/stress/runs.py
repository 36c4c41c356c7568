"""The load run (N cameras at F frames/s) and the crash run (kill -9 while frames stream), with their checks."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from neopain.app.stress.cameras import TRANSIENT, Camera, Ledger, Script, run_camera
from neopain.app.stress.server import (
    ServerProcess,
    frames_seen,
    image_files,
    integrity_check,
    stored_records,
)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)


def verify(server: ServerProcess, ledger: Ledger) -> dict:
    """Compare what the cameras were told with what the database and the image folder hold."""
    rows = stored_records(server.database)
    by_id = {r.public_id: r for r in rows}
    files = image_files(server.images_dir)
    found = [rid for fid, rid in ledger.records.items() if rid in by_id and by_id[rid].client_frame_id == fid]
    without_file = [rid for rid in found if by_id[rid].image_name not in files]
    per_frame = Counter(r.client_frame_id for r in rows)
    unsaved_but_stored = [
        fid for fid, answer in ledger.acked.items() if not answer.get("saved") and per_frame.get(fid)
    ]
    named = {r.image_name for r in rows if r.image_name}
    return {
        "records_acknowledged": len(ledger.records),
        "records_found": len(found),
        "lost": len(ledger.records) - len(found) + len(without_file),
        "duplicated": sum(n - 1 for n in per_frame.values() if n > 1)
        + ledger.mismatched_replays
        + len(unsaved_but_stored),
        "orphan_files": len(files - named),
        "quarantined_files": len(list(server.quarantine_dir.glob("*"))),
        "frames_seen_by_server": frames_seen(server.database, ledger.assessments),
    }


async def _open_cameras(server: ServerProcess, username: str, password: str, n: int, ledger: Ledger):  # type: ignore[no-untyped-def]
    # One after the other, as phones are picked up: parallel logins of one account are throttled as guesses.
    return [await Camera(server.base_url, username, password, ledger).open() for _ in range(n)]


async def _load(server: ServerProcess, username: str, password: str, cameras: int, fps: float,
                duration_s: float, script: Script) -> tuple[Ledger, float]:  # fmt: skip
    ledger = Ledger()
    opened = await _open_cameras(server, username, password, cameras, ledger)
    began = time.perf_counter()
    try:
        await asyncio.gather(*(run_camera(c, script, fps, duration_s, i) for i, c in enumerate(opened)))
    finally:
        await asyncio.gather(*(c.close() for c in opened))
    return ledger, time.perf_counter() - began


def load_run(server: ServerProcess, username: str, password: str, *, cameras: int, fps: float,
             duration_s: float, script: Script) -> dict:  # fmt: skip
    """Run the cameras against a started server; returns the JSON-ready report."""
    ledger, elapsed = asyncio.run(_load(server, username, password, cameras, fps, duration_s, script))
    return {
        "cameras": cameras,
        "fps_per_camera": fps,
        "duration_s": round(elapsed, 2),
        "frames_sent": ledger.sent,
        "frames_acknowledged": len(ledger.acked),
        "frames_resent": ledger.resent,
        "replayed_records": ledger.replays,
        "throughput_fps": round(ledger.sent / elapsed, 2) if elapsed else None,
        "latency_ms_p50": percentile(ledger.latencies_ms, 50),
        "latency_ms_p95": percentile(ledger.latencies_ms, 95),
        "latency_ms_max": round(max(ledger.latencies_ms), 1) if ledger.latencies_ms else None,
        # The model's own time per frame, as the server timed it: the rest of the latency is waiting.
        "model_ms_p50": percentile(_model_ms(ledger), 50),
        "model_ms_p95": percentile(_model_ms(ledger), 95),
        **verify(server, ledger),
    }


def _model_ms(ledger: Ledger) -> list[float]:
    return [float(a["processing_ms"]) for a in ledger.acked.values() if a.get("processing_ms") is not None]


@dataclass
class Pending:
    """A frame sent when the server died: the phone sends it again, same id, after the restart."""

    assessment: str
    token: str
    data: bytes
    frame_id: str


async def _stream_until_dead(camera: Camera, script: Script, cycle: int, max_frames: int) -> Pending | None:
    """Send frames back to back until the server goes away; returns the frame left unanswered, if any."""
    for index in range(max_frames):
        try:
            if index % script.per_assessment == 0:
                await camera.start_assessment(f"crash cycle {cycle} assessment {index}")
        except TRANSIENT:
            return None  # the assessment may exist without frames: harmless
        data, frame_id = script.frame(index), uuid.uuid4().hex
        try:
            await camera.send(data, frame_id)
        except TRANSIENT:
            return Pending(camera.assessment, camera.token, data, frame_id)
    return None


async def _retry(camera: Camera, pending: Pending) -> None:
    camera.ledger.resent += 1
    camera.assessment, camera.token = pending.assessment, pending.token
    await camera.send(pending.data, pending.frame_id)


async def _cycle(server: ServerProcess, username: str, password: str, script: Script, cycle: int,
                 kill_after_s: float, pending: list[Pending], ledger: Ledger) -> list[Pending]:  # fmt: skip
    camera = await Camera(server.base_url, username, password, ledger).open()
    try:
        for frame in pending:
            await _retry(camera, frame)
        streaming = asyncio.create_task(_stream_until_dead(camera, script, cycle, max_frames=100_000))
        await asyncio.sleep(kill_after_s)
        await asyncio.to_thread(server.kill9)
        left = await asyncio.wait_for(streaming, timeout=60)
    finally:
        await camera.close()
    return [left] if left else []


def crash_run(server: ServerProcess, username: str, password: str, *, cycles: int, script: Script,
              kill_window_s: tuple[float, float] = (0.3, 1.5)) -> dict:  # fmt: skip
    """``cycles`` times: start, retry the unanswered frame, stream, kill -9; check after every restart."""
    # The killed server is gone, so no transaction is open at a restart: a file without a row is from the
    # kill and goes to quarantine at once (a live server keeps the default grace period).
    server.env.setdefault("NEOPAIN_ORPHAN_GRACE_MINUTES", "0")
    rng = random.Random(script.seed)
    ledger = Ledger()
    pending: list[Pending] = []
    checks: list[dict] = []
    for cycle in range(cycles):
        server.start()
        checks.append(
            {"cycle": cycle, "integrity": integrity_check(server.database), **verify(server, ledger)}
        )
        kill_after = rng.uniform(*kill_window_s)
        pending = asyncio.run(_cycle(server, username, password, script, cycle, kill_after, pending, ledger))
    server.start()  # the last restart: retry what was left, then the final checks
    try:
        if pending:
            asyncio.run(_final_retry(server, username, password, pending, ledger))
        final = {"integrity": integrity_check(server.database), **verify(server, ledger)}
    finally:
        server.stop()
    bad = [c for c in checks if c["integrity"] != "ok" or c["lost"] or c["duplicated"] or c["orphan_files"]]
    return {
        "cycles": cycles,
        "server_starts": server.starts,
        "frames_sent": ledger.sent,
        "frames_acknowledged": len(ledger.acked),
        "frames_resent_after_restart": ledger.resent,
        "replayed_records": ledger.replays,
        **final,
        "bad_restarts": len(bad),
        "first_bad_restart": bad[0] if bad else None,
    }


async def _final_retry(server: ServerProcess, username: str, password: str, pending: list[Pending],
                       ledger: Ledger) -> None:  # fmt: skip
    camera = await Camera(server.base_url, username, password, ledger).open()
    try:
        for frame in pending:
            await _retry(camera, frame)
    finally:
        await camera.close()


def prepare_user(data_dir: Path, username: str = "camera", db_url: str | None = None) -> str:
    """Create the cameras' nurse account in a fresh data dir (and database); returns its random password."""
    from neopain.app.core.settings import AppSettings
    from neopain.app.main import first_login

    settings = AppSettings(data_dir=data_dir, db_url=db_url, _env_file=None)  # type: ignore[call-arg]
    password = first_login(settings, username, "nurse")
    if password is None:
        raise ValueError(f"{data_dir}: user {username!r} exists already; use a fresh data dir")
    return password
