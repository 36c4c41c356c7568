"""Who sees which baby: the babies of one's units, another unit's baby only through break-glass.

The admin role gives no baby's data at all (routes refuse it before this is asked).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.models import Baby, BreakGlass, Unit, User, utcnow

MIN_REASON = 10
MAX_REASON = 500


class OutsideUnit(Exception):
    """The baby belongs to a unit the user is not in (and no break-glass is open for it)."""

    def __init__(self, baby: Baby) -> None:
        super().__init__("this baby belongs to another unit")
        self.baby_public_id = baby.public_id
        self.unit_name = baby.unit.name if baby.unit else ""


class AccessError(ValueError):
    """A break-glass request that cannot be accepted (reason too short, unknown unit...)."""


def unit_ids(user: User) -> list[int]:
    return [u.id for u in user.units]


def visible_babies(user: User) -> ColumnElement[bool]:
    """The condition on ``Baby`` that a user's lists and searches apply: own units only.

    Babies opened by break-glass are reached by their id, never listed: break-glass is for one baby.
    """
    return Baby.unit_id.in_(unit_ids(user))


def _open_break_glass(user: User, baby: Baby) -> ColumnElement[bool]:
    return exists().where(and_(BreakGlass.user_id == user.id, BreakGlass.baby_id == baby.id,
                               BreakGlass.expires_at > utcnow()))


def can_open(db: Session, user: User, baby: Baby) -> bool:
    return baby.unit_id in unit_ids(user) or bool(db.scalar(select(_open_break_glass(user, baby))))


def require_baby(db: Session, user: User, baby: Baby) -> Baby:
    """``baby`` if the user may open it, else OutsideUnit (the page offers break-glass)."""
    if not can_open(db, user, baby):
        raise OutsideUnit(baby)
    return baby


def break_glass(db: Session, user: User, baby: Baby, reason: str, hours: float) -> BreakGlass:
    """Open another unit's baby for ``hours`` with a typed reason; audited, listed for the admin."""
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise AccessError(f"say why in at least {MIN_REASON} characters (it is reviewed by the admin)")
    if len(reason) > MAX_REASON:
        raise AccessError(f"the reason is longer than {MAX_REASON} characters")
    row = BreakGlass(user_id=user.id, baby_id=baby.id, reason=reason, expires_at=utcnow() + timedelta(hours=hours))
    db.add(row)
    db.flush()
    # The reason stays in its own table (the admin reads it there): free text may hold a name.
    audit(db, user, "break_glass", "baby", baby.public_id, subject=baby.public_id,
          detail={"break_glass": row.id, "unit": baby.unit_id})
    return row


def units_by_name(db: Session, names: list[str]) -> list[Unit]:
    found = list(db.scalars(select(Unit).where(Unit.name.in_(names))))
    missing = sorted(set(names) - {u.name for u in found})
    if missing:
        raise AccessError(f"no unit named {missing[0]!r}")
    return found


MAX_UNIT_NAME = 80


def create_unit(db: Session, name: str, actor: User | None = None) -> Unit:
    name = " ".join(name.split())
    if not name or len(name) > MAX_UNIT_NAME:
        raise AccessError(f"a unit's name has 1 to {MAX_UNIT_NAME} characters")
    if db.scalar(select(Unit).where(Unit.name == name)) is not None:
        raise AccessError(f"a unit named {name!r} exists already")
    unit = Unit(name=name)
    db.add(unit)
    db.flush()
    audit(db, actor, "create", "unit", str(unit.id), detail={"name": name})
    return unit


def default_units(db: Session) -> list[Unit]:
    """New clinicians join the only unit when there is just one (a single-ward install), else none."""
    units = list(db.scalars(select(Unit).limit(2)))
    return units if len(units) == 1 else []


def reviewable(db: Session) -> list[BreakGlass]:
    """The break-glass entries the admin has not reviewed yet, newest first."""
    return list(db.scalars(select(BreakGlass).where(BreakGlass.reviewed_at.is_(None))
                           .order_by(BreakGlass.at.desc()).limit(500)))


def unit_members(db: Session) -> list[tuple[Unit, list[str]]]:
    """Every unit with the user names of its clinicians."""
    users = list(db.scalars(select(User).order_by(User.username)))
    return [(unit, [u.username for u in users if unit in u.units])
            for unit in db.scalars(select(Unit).order_by(Unit.name))]
