"""Retention and erasure: purge images past their retention period, erase babies (names and rows) past
theirs, and delete a baby's data on request. Only audit rows remain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from neopain.app.core.audit import audit
from neopain.app.core.storage import ImageStore
from neopain.app.models import Assessment, Baby, BabyBaseline, BreakGlass, Observation, Record, User, utcnow

PURGE_BATCH = 200  # rows per transaction: a long purge never holds the write lock for long


def purge_images(factory: sessionmaker[Session], images: ImageStore, days: float) -> int:
    """Delete the image files of records captured more than ``days`` ago; returns how many were purged.

    The row forgets its file name and commits first; the file goes after. A crash in between leaves a
    file without a row, which start-up moves to quarantine: never a row pointing at a missing file
    that was meant to be there.
    """
    cutoff = utcnow() - timedelta(days=days)
    purged = 0
    while True:
        with factory() as db:
            rows = list(
                db.scalars(
                    select(Record)
                    .where(Record.captured_at < cutoff, Record.image_name.is_not(None))
                    .order_by(Record.id)
                    .limit(PURGE_BATCH)
                )
            )
            if not rows:
                return purged
            names = [r.image_name for r in rows if r.image_name]
            for record in rows:
                record.image_name = None
                record.image_purged_at = utcnow()
                audit(db, None, "purge", "image", record.public_id, subject=record.baby.public_id)
            db.commit()
        for name in names:
            images.delete(name)
        purged += len(rows)


def purge_babies(factory: sessionmaker[Session], images: ImageStore, days: float) -> int:
    """Erase babies (name, rows, images) with nothing newer than ``days``: no record, no assessment, no
    creation within the period. Each is audited as a purge; returns how many."""
    cutoff = utcnow() - timedelta(days=days)
    recent_record = select(Record.baby_id).where(Record.captured_at >= cutoff)
    recent_assessment = select(Assessment.baby_id).where(Assessment.started_at >= cutoff)
    recent_observation = select(Observation.baby_id).where(Observation.started_at >= cutoff)
    erased = 0
    while True:
        with factory() as db:
            due = list(db.scalars(select(Baby).where(Baby.created_at < cutoff, Baby.id.not_in(recent_record),
                                                     Baby.id.not_in(recent_assessment),
                                                     Baby.id.not_in(recent_observation))
                                  .order_by(Baby.id).limit(PURGE_BATCH // 10)))
            if not due:
                return erased
            for baby in due:
                delete_baby(db, images, baby, None, action="purge")
            erased += len(due)


@dataclass(frozen=True)
class Erasure:
    baby: str
    assessments: int
    records: int
    images: int


def delete_baby(db: Session, images: ImageStore, baby: Baby, user: User | None, action: str = "delete") -> Erasure:
    """Erase a baby: rows (baby, assessments, records, observations, baselines) in one transaction, then the
    image files.

    The audit row (who, when, the opaque id, the counts) is all that remains.
    """
    names = [n for n in db.scalars(select(Record.image_name).where(Record.baby_id == baby.id)) if n]
    n_records = len(list(db.scalars(select(Record.id).where(Record.baby_id == baby.id))))
    n_assessments = len(list(db.scalars(select(Assessment.id).where(Assessment.baby_id == baby.id))))
    public_id = baby.public_id
    # Explicit deletes, children first: does not depend on the database enforcing ON DELETE CASCADE.
    db.execute(delete(Observation).where(Observation.baby_id == baby.id))
    db.execute(delete(BabyBaseline).where(BabyBaseline.baby_id == baby.id))
    db.execute(delete(Record).where(Record.baby_id == baby.id))
    db.execute(delete(Assessment).where(Assessment.baby_id == baby.id))
    db.execute(delete(Baby).where(Baby.id == baby.id))
    db.execute(delete(BreakGlass).where(BreakGlass.baby_id == baby.id))
    audit(db, user, action, "baby", public_id, subject=public_id)
    db.commit()
    for name in names:
        images.delete(name)
    return Erasure(public_id, n_assessments, n_records, len(names))


def purge_drafts(factory: sessionmaker[Session], hours: float) -> int:
    """Delete observation windows started more than ``hours`` ago and never saved (left recording, or ended
    and never decided); one audit row with the count."""
    cutoff = utcnow() - timedelta(hours=hours)
    with factory() as db:
        due = delete(Observation).where(Observation.status != "saved", Observation.started_at < cutoff)
        gone = db.execute(due).rowcount
        if gone:
            audit(db, None, "purge", "observation_drafts", str(gone))
        db.commit()
    return int(gone or 0)
