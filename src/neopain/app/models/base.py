"""Declarative base and the small helpers every model uses."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Named constraints so Alembic migrations are stable across SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; gives back aware datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def opaque_id() -> str:
    """A random id for URLs: says nothing about the baby, the order or the count.

    It starts with a letter or digit: an id starting with '-' (1 in 64 of ``token_urlsafe``) would be taken
    for a formula by spreadsheets, so the audit CSV would quote it and no longer match the id.
    """
    while True:
        candidate = secrets.token_urlsafe(16)
        if candidate[0].isalnum():
            return candidate
