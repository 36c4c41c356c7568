"""A recorded clip scored after the fact (retrospective review), as a camera window is.

The upload is copied to a private temporary file (0600 in a 0700 folder under the app's data folder, never
the system's temp folder), checked before any frame is assessed (it decodes, has a frame rate, is within
the pixel and length limits, holds the window asked for), then only that window is read at
``neopain.inference.DEFAULT_FPS`` with the served model. The file is deleted whatever happens; the
observation keeps only the window's timeline. A refusal saves nothing.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.core.inference import AssessmentLike, PredictorHolder
from neopain.app.core.settings import AppSettings
from neopain.app.models import Baby, Observation, User, utcnow
from neopain.app.services.baselines import BaselineUnusable, usable_baseline
from neopain.app.services.observations import entry, propose, window_length
from neopain.inference import DEFAULT_FPS
from neopain.pixels.videoio import VIDEO_SUFFIXES, VideoError, VideoInfo, probe, read_frames
from neopain.scales.instruments import Instrument, InstrumentError, instrument
from neopain.scales.windows import SMOOTH_S, WindowError

CHUNK = 1 << 20
STALE_S = 3600  # a temporary clip left by a crash is deleted at the next upload or housekeeping


class ClipError(Exception):
    """A clip that cannot be reviewed; ``status`` is the HTTP code, the message says why (no server path)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ClipRequest:
    instrument: str
    window: int  # which window of the clip, 1 = the first (from 0 s)
    with_baseline: bool


def clear_stale(folder: Path, older_than_s: float = STALE_S) -> int:
    """Delete temporary clips older than ``older_than_s``; returns how many."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    gone = 0
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            gone += 1
    return gone


def write_private(source: BinaryIO, folder: Path, filename: str, max_bytes: int) -> Path:
    """Copy the upload to a random 0600 file in ``folder`` (0700); ClipError 413 past ``max_bytes``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    clear_stale(folder)
    suffix = Path(filename or "").suffix.lower()
    path = folder / f"{secrets.token_hex(16)}{suffix if suffix in VIDEO_SUFFIXES else '.bin'}"
    written = 0
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > max_bytes:
                out.close()
                path.unlink(missing_ok=True)
                raise ClipError(413, f"the clip is larger than {max_bytes} bytes")
            out.write(chunk)
    if written == 0:
        path.unlink(missing_ok=True)
        raise ClipError(422, "the clip is empty")
    return path


def _said(exc: VideoError) -> str:
    """The decoder's message without the server's path (it starts with it)."""
    return str(exc).split(": ", 1)[-1]


def check_clip(path: Path, inst: Instrument, window: int, window_s: float,
               settings: AppSettings) -> tuple[VideoInfo, float, float]:
    """(the clip, the window's start and end in seconds), or ClipError before any frame is assessed."""
    try:
        info = probe(path)
    except VideoError as exc:
        raise ClipError(422, f"the clip cannot be used: {_said(exc)}") from exc
    if info.width * info.height > settings.max_upload_pixels:
        raise ClipError(413, f"the clip has {info.width}x{info.height} pixels a frame, more than "
                             f"{settings.max_upload_pixels}")
    if info.duration_s > settings.max_clip_seconds:
        raise ClipError(413, f"the clip lasts {info.duration_s:.0f} s, more than "
                             f"{settings.max_clip_seconds:g} s: cut the part to review")
    whole = int((info.duration_s + 1e-6) // window_s)
    if whole < 1:
        raise ClipError(422, f"the clip lasts {info.duration_s:.1f} s, shorter than one {inst.name} window "
                             f"({window_s:g} s): nothing to score")
    if window > whole:
        raise ClipError(422, f"the clip holds {whole} whole {inst.name} window{'s' if whole > 1 else ''} of "
                             f"{window_s:g} s: window {window} is past its end")
    start = (window - 1) * window_s
    return info, start, start + window_s


def _entry(t: float, result: AssessmentLike) -> dict:
    reading = getattr(result, "nfcs", None)
    face = result.status == "ok" and reading is not None
    actions = [(n, a.probability, a.assessable) for n, a in reading.actions.items()] if face else []
    return entry(t, face, actions)


def read_window(holder: PredictorHolder, path: Path, start: float, end: float) -> list[dict]:
    """The timeline of [start, end) and the smoothing's reach either side; the face followed from frame to
    frame within this reading only (its own stream: no other clip's or camera's face carries over)."""
    entries = []
    stream = f"clip-{secrets.token_hex(8)}"
    try:
        for _index, t, frame in read_frames(path, DEFAULT_FPS):
            if t >= end + SMOOTH_S:
                break
            if t >= start - SMOOTH_S:
                entries.append(_entry(t, holder.assess_image(frame, stream)))
    except VideoError as exc:
        raise ClipError(422, f"the clip cannot be read to the end of the window: {_said(exc)}") from exc
    return entries


def _instrument(name: str) -> Instrument:
    try:
        return instrument(name)
    except InstrumentError as exc:
        raise ClipError(422, str(exc)) from exc


def review_clip(db: Session, user: User, baby: Baby, holder: PredictorHolder, path: Path,
                request: ClipRequest, settings: AppSettings) -> Observation:
    """The clip's window as a proposed observation (``retrospective``), awaiting the nurse's decisions."""
    version = holder.nfcs_version()
    if version is None:
        raise ClipError(409, "the served model reads no NFCS actions: a review needs an NFCS model")
    inst = _instrument(request.instrument)
    window_s = window_length(inst, settings.baseline_seconds, settings.observe_window_seconds)
    _info, start, end = check_clip(path, inst, request.window, window_s, settings)
    model_id = holder.get().model_id
    now = utcnow()
    try:
        baseline = usable_baseline(db, baby, model_id, now) if request.with_baseline else None
    except BaselineUnusable as exc:
        raise ClipError(exc.status, str(exc)) from exc
    db.commit()  # nothing is pending: ends the read transaction, none stays open while frames are read
    timeline = read_window(holder, path, start, end)
    obs = Observation(baby_id=baby.id, kind="observation", instrument=inst.name, status="recording",
                      retrospective=True, started_at=now, window_start=start, window_end=end,
                      baseline=baseline, model_id=model_id, nfcs_version=version, timeline=timeline,
                      started_by=user.id)
    try:
        propose(obs)
    except WindowError as exc:
        raise ClipError(422, f"the window cannot be scored: {exc}") from exc
    db.add(obs)
    db.flush()
    audit(db, user, "upload", "observation", obs.public_id, subject=baby.public_id,
          detail={"instrument": inst.name, "window": request.window, "scorable": obs.scorable,
                  "frames": len(obs.timeline)})
    return obs
