"""Observation windows on the server: start one on a camera's assessment, append each frame's reading, end it
(the instrument's facial items proposed with their reasons, or the baby's baseline recorded).

The window is server-side state (an ``observations`` row), so a reload, a second server process or a
restart sees the same frames. Nothing is accepted for the nurse here: see ``services/decisions.py``.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.models import Assessment, Baby, BabyBaseline, Observation, User, utcnow
from neopain.app.schemas import FramePublic, ObservationProgress
from neopain.app.services.baselines import (
    BaselineUnusable,
    as_window_baseline,
    store_baseline,
    usable_baseline,
)
from neopain.scales.instruments import GRIMACE, Instrument, InstrumentError, instrument
from neopain.scales.nfcs import nfcs_version
from neopain.scales.windows import FrameReading, WindowError, record_baseline, score_window

# A frame's time (the camera's clock, from the window's start) may run this far ahead of the server's.
CLOCK_SLACK_S = 3.0
# The camera ends the window by its own countdown, which starts after the server's: a little early is fine.
END_SLACK_S = 1.0
DIGITS = 4  # probabilities kept to 4 decimals: the timeline is a record, not a model output to re-derive

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


class ObservationError(Exception):
    """A request the observation's state refuses; ``status`` is the HTTP code, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _lock_for(public_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks[public_id]


def window_length(inst: Instrument | None, baseline_s: float, override: float | None) -> float:
    """The instrument's own window (the baseline's for a baseline), unless development overrides it."""
    if override is not None:
        return float(override)
    return inst.window_s if inst is not None else float(baseline_s)


def scoring_instrument(obs: Observation) -> Instrument:
    """The observation's instrument, its window set to the one recorded (only a development override
    shortens it)."""
    inst = instrument(obs.instrument or "")
    return inst if math.isclose(inst.window_s, obs.window_s) else replace(inst, window_s=obs.window_s)


def reads(inst: Instrument, version: str) -> list[str]:
    """The NFCS actions the instrument's facial items read (a grimace reads the version's actions)."""
    out: list[str] = []
    for item in inst.facial_items:
        assert item.facial is not None
        more = list(nfcs_version(version).actions) if item.facial.reads == GRIMACE else [item.facial.reads]
        out += [a for a in more if a not in out]
    return out


def entry(t: float, face: bool, actions: Iterable[tuple[str, float, bool]]) -> dict:
    """One frame of the timeline: time, face found, each action's p (None where not assessable)."""
    p = {name: (round(float(prob), DIGITS) if assessable else None) for name, prob, assessable in actions}
    return {"t": round(float(t), 3), "face": face, "p": p if face else {}}


def frame_entry(t: float, answer: FramePublic) -> dict:
    """The timeline entry of a camera frame's answer: no face or the quality gate refused -> face False."""
    face = answer.status == "ok" and answer.nfcs is not None
    read = answer.nfcs.actions if face and answer.nfcs else []
    return entry(t, face, [(a.name, a.probability, a.assessable) for a in read])


def readings_of(obs: Observation) -> list[FrameReading]:
    return [FrameReading(float(e["t"]), bool(e["face"]), dict(e.get("p") or {})) for e in obs.timeline]


def elapsed_s(obs: Observation, now: datetime | None = None) -> float:
    return ((now or utcnow()) - obs.started_at).total_seconds()


def observation_by_id(db: Session, public_id: str) -> Observation | None:
    return db.scalar(select(Observation).where(Observation.public_id == public_id))


def start(db: Session, user: User, assessment: Assessment, *, kind: str, instrument_name: str | None,
          with_baseline: bool, model_id: str, version: str, window_s: float) -> Observation:
    """A new window on the assessment, recording from now; an unfinished one of the same camera is dropped."""
    inst = None
    if kind == "observation":
        if not instrument_name:
            raise ObservationError(422, "choose the instrument to observe")
        try:
            inst = instrument(instrument_name)
        except InstrumentError as exc:
            raise ObservationError(422, str(exc)) from exc
    now = utcnow()
    baseline: BabyBaseline | None = None
    if inst is not None and with_baseline:
        try:
            baseline = usable_baseline(db, assessment.baby, model_id, now)
        except BaselineUnusable as exc:
            raise ObservationError(exc.status, str(exc)) from exc
    db.execute(delete(Observation).where(Observation.assessment_id == assessment.id,
                                         Observation.status == "recording"))
    obs = Observation(baby_id=assessment.baby_id, assessment_id=assessment.id, kind=kind,
                      instrument=inst.name if inst else None, status="recording", started_at=now,
                      window_start=0.0, window_end=window_s, baseline_id=baseline.id if baseline else None,
                      model_id=model_id, nfcs_version=version, timeline=[], started_by=user.id)
    db.add(obs)
    db.flush()
    audit(db, user, "create", "observation", obs.public_id, subject=assessment.baby.public_id,
          detail={"kind": kind, "instrument": obs.instrument, "window_s": window_s,
                  "baseline": baseline.public_id if baseline else None})
    return obs


def _accepts(obs: Observation, t: float, elapsed: float) -> bool:
    """Within the window, after the last reading (a retried frame repeats its time), not from the future."""
    last = float(obs.timeline[-1]["t"]) if obs.timeline else -math.inf
    return (obs.status == "recording" and math.isfinite(t) and obs.window_start <= t < obs.window_end
            and round(t, 3) > last and t <= elapsed + CLOCK_SLACK_S)


def _progress(obs: Observation, appended: bool, elapsed: float) -> ObservationProgress:
    remaining = max(0.0, obs.window_s - elapsed)
    faces = sum(1 for e in obs.timeline if e["face"])
    done = obs.status != "recording" or remaining <= 0
    return ObservationProgress(id=obs.public_id, appended=appended, frames=len(obs.timeline), faces=faces,
                               remaining_s=round(remaining, 2), done=done)


def append_frame(db: Session, assessment: Assessment, public_id: str, t: float | None,
                 answer: FramePublic) -> ObservationProgress:
    """Add a camera frame's reading at ``t`` seconds (the server's clock when None) to a recording window."""
    with _lock_for(public_id):
        db.expire_all()
        locked = select(Observation).where(Observation.public_id == public_id).with_for_update()
        obs = db.scalars(locked).first()
        if obs is None:
            raise ObservationError(404, "no such observation")
        if obs.assessment_id != assessment.id:
            raise ObservationError(409, "this observation belongs to another assessment")
        elapsed = elapsed_s(obs)
        when = elapsed if t is None else float(t)
        appended = _accepts(obs, when, elapsed)
        if appended:
            obs.timeline = [*obs.timeline, frame_entry(when, answer)]  # a new list: the column is rewritten
        progress = _progress(obs, appended, elapsed)
        db.commit()
        return progress


def propose(obs: Observation) -> None:
    """Score the window: the facial items' proposals and reasons (WindowError when it cannot be scored)."""
    baseline = as_window_baseline(obs.baseline) if obs.baseline is not None else None
    scored = score_window(scoring_instrument(obs), readings_of(obs), obs.window_start, obs.window_end,
                          baseline=baseline, now=obs.started_at, version=obs.nfcs_version)
    obs.proposals = {k: {"value": p.value, "reason": p.reason} for k, p in scored.proposals.items()}
    obs.scorable = scored.scorable
    obs.status = "proposed"


def _check_over(obs: Observation) -> None:
    if obs.status != "recording":
        raise ObservationError(409, "this window has ended already")
    remaining = obs.window_s - elapsed_s(obs)
    if remaining > END_SLACK_S:
        raise ObservationError(409, f"the window is not over yet: {math.ceil(remaining)} s to go")


def end(db: Session, user: User, obs: Observation) -> BabyBaseline | None:
    """End a recording window: an observation gets its proposals (-> ``proposed``); a baseline window is
    recorded as the baby's baseline (its buffer row deleted) and returned. Nothing half-saved: a window
    that cannot be used is deleted and the error says why."""
    _check_over(obs)
    baby: Baby = obs.baby
    try:
        if obs.kind == "baseline":
            baseline = record_baseline(readings_of(obs), obs.window_start, obs.window_end, obs.started_at,
                                       obs.nfcs_version)
        else:
            propose(obs)
    except WindowError as exc:
        db.delete(obs)
        db.commit()
        what = "no baseline recorded" if obs.kind == "baseline" else "the window cannot be scored"
        raise ObservationError(422, f"{what}: {exc}") from exc
    if obs.kind == "baseline":
        row = store_baseline(db, user, baby, baseline, obs.model_id)
        db.delete(obs)
        return row
    audit(db, user, "score", "observation", obs.public_id, subject=baby.public_id,
          detail={"instrument": obs.instrument, "scorable": obs.scorable, "frames": len(obs.timeline)})
    return None
