"""Babies: create, find by opaque id, search by name, per-baby totals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from neopain.app.models import Assessment, Baby, Record, User
from neopain.app.services.access import unit_ids, visible_babies

MAX_NAME = 120
MAX_IDENTIFIER = 40


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


def clean_identifier(identifier: str) -> str:
    """The bed or record number: required for a new baby, so two of one name are told apart."""
    identifier = " ".join(identifier.split())
    if not identifier:
        raise BabyInputError("type the bed or record number too (it tells two babies of one name apart)")
    if len(identifier) > MAX_IDENTIFIER or any(ord(c) < 32 or ord(c) == 127 for c in identifier):
        raise BabyInputError(f"the bed or record number must be up to {MAX_IDENTIFIER} plain characters")
    return identifier


def create_baby(db: Session, name: str, user: User, identifier: str, unit_id: int | None = None) -> Baby:
    """A new baby in ``unit_id``, which must be one of the user's units (the first one by default)."""
    units = unit_ids(user)
    if not units:
        raise BabyInputError("you are in no unit yet: ask the admin to add you to your unit")
    unit = unit_id if unit_id is not None else units[0]
    if unit not in units:
        raise BabyInputError("a new baby goes into one of your own units")
    baby = Baby(display_name=clean_name(name), identifier=clean_identifier(identifier), created_by=user.id,
                unit_id=unit)
    db.add(baby)
    db.flush()
    return baby


def baby_by_public_id(db: Session, public_id: str) -> Baby | None:
    return db.scalar(select(Baby).where(Baby.public_id == public_id))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_babies(db: Session, query: str, user: User, limit: int = 50) -> list[Baby]:
    """The user's units' babies whose name or bed/record number contains the query, most recent first."""
    statement = (select(Baby).where(visible_babies(user)).order_by(Baby.created_at.desc(), Baby.id.desc())
                 .limit(limit))
    query = " ".join(query.split())
    if query:
        pattern = f"%{_escape_like(query.lower())}%"
        statement = statement.where(or_(func.lower(Baby.display_name).like(pattern, escape="\\"),
                                        func.lower(Baby.identifier).like(pattern, escape="\\")))
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
