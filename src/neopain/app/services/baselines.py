"""A baby's baseline: the current one, whether it can be used (age, model), and recording a new one.

Recording a new baseline marks the current one replaced and keeps it: the observations coded against it
still point at the means they used. Every row goes when the baby is erased (services/retention.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.models import Baby, BabyBaseline, User, utcnow
from neopain.scales.windows import BASELINE_MAX_AGE, Baseline, WindowError, check_baseline


class BaselineUnusable(ValueError):
    """No baseline, one read by another model, or one too old: ``status`` is the HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def current_baseline(db: Session, baby: Baby) -> BabyBaseline | None:
    """The baby's baseline now (the newest not replaced), or None."""
    return db.scalar(select(BabyBaseline)
                     .where(BabyBaseline.baby_id == baby.id, BabyBaseline.replaced_at.is_(None))
                     .order_by(BabyBaseline.recorded_at.desc(), BabyBaseline.id.desc()).limit(1))


def as_window_baseline(row: BabyBaseline) -> Baseline:
    """The row as ``neopain.scales.windows.Baseline`` (the means an observation's actions are coded against)."""
    return Baseline(means={k: float(v) for k, v in row.means.items()}, recorded_at=row.recorded_at,
                    frames=row.frames)


def is_stale(row: BabyBaseline, now: datetime | None = None) -> bool:
    """Older than ``neopain.scales.windows.BASELINE_MAX_AGE``: it no longer describes the baby's day."""
    return (now or utcnow()) - row.recorded_at > BASELINE_MAX_AGE


def usable_baseline(db: Session, baby: Baby, model_id: str, now: datetime) -> BabyBaseline:
    """The current baseline if an observation starting ``now`` with the served model may use it."""
    row = current_baseline(db, baby)
    if row is None:
        raise BaselineUnusable(409, "this baby has no baseline yet: record one (baby settled) or observe "
                                    "without it")
    if row.model_id != model_id:
        raise BaselineUnusable(409, "the baseline was read by another model than the one served now: record "
                                    "a new one")
    try:
        check_baseline(as_window_baseline(row), now)
    except WindowError as exc:
        raise BaselineUnusable(422, f"the baseline cannot be used: {exc}") from exc
    return row


def store_baseline(db: Session, user: User, baby: Baby, baseline: Baseline, model_id: str) -> BabyBaseline:
    """``baseline`` becomes the baby's current one; the one it replaces is kept, marked replaced."""
    replaced = list(db.scalars(select(BabyBaseline).where(BabyBaseline.baby_id == baby.id,
                                                          BabyBaseline.replaced_at.is_(None))))
    now = utcnow()
    for old in replaced:
        old.replaced_at = now
    row = BabyBaseline(baby_id=baby.id, recorded_at=baseline.recorded_at, means=dict(baseline.means),
                       frames=baseline.frames, model_id=model_id, recorded_by=user.id)
    db.add(row)
    db.flush()
    audit(db, user, "create", "baseline", row.public_id, subject=baby.public_id,
          detail={"frames": row.frames, "replaces": ",".join(o.public_id for o in replaced)})
    return row
