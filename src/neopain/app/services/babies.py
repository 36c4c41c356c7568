"""Babies: create, find by opaque id, search by name, per-baby totals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from neopain.app.models import Assessment, Baby, Record, User

MAX_NAME = 120


class BabyInputError(ValueError):
    """A name that cannot be used (empty, too long)."""


def clean_name(name: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in name.replace("\t", " ").replace("\n", " ")):
        raise BabyInputError("the name holds a control character (for example NUL); type it again")
    name = " ".join(name.split())
    if not name:
        raise BabyInputError("type the baby's name or pick a baby from the list")
    if len(name) > MAX_NAME:
        raise BabyInputError(f"the name is longer than {MAX_NAME} characters")
    return name


def create_baby(db: Session, name: str, user: User) -> Baby:
    baby = Baby(display_name=clean_name(name), created_by=user.id)
    db.add(baby)
    db.flush()
    return baby


def baby_by_public_id(db: Session, public_id: str) -> Baby | None:
    return db.scalar(select(Baby).where(Baby.public_id == public_id))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_babies(db: Session, query: str, limit: int = 50) -> list[Baby]:
    """Babies whose name contains the query (case-insensitive), most recent first."""
    statement = select(Baby).order_by(Baby.created_at.desc(), Baby.id.desc()).limit(limit)
    query = " ".join(query.split())
    if query:
        pattern = f"%{_escape_like(query.lower())}%"
        statement = statement.where(func.lower(Baby.display_name).like(pattern, escape="\\"))
    return list(db.scalars(statement))


@dataclass(frozen=True)
class BabySummary:
    baby: Baby
    records: int
    pain: int
    assessments: int
    last_seen: object  # datetime | None


def summaries(db: Session, babies: list[Baby]) -> list[BabySummary]:
    """Counts for a page of babies in two queries, not two per baby."""
    ids = [b.id for b in babies]
    if not ids:
        return []
    label = func.coalesce(Record.confirmed_label, Record.label)
    rows = db.execute(
        select(
            Record.baby_id,
            func.count(),
            func.sum(case((label == "pain", 1), else_=0)),
            func.max(Record.captured_at),
        )
        .where(Record.baby_id.in_(ids))
        .group_by(Record.baby_id)
    ).all()
    sessions = dict(
        db.execute(
            select(Assessment.baby_id, func.count())
            .where(Assessment.baby_id.in_(ids))
            .group_by(Assessment.baby_id)
        ).all()
    )
    by_id = {r[0]: r for r in rows}
    out = []
    for baby in babies:
        row = by_id.get(baby.id)
        out.append(
            BabySummary(
                baby=baby,
                records=int(row[1]) if row else 0,
                pain=int(row[2] or 0) if row else 0,
                assessments=int(sessions.get(baby.id, 0)),
                last_seen=row[3] if row else None,
            )
        )
    return out
