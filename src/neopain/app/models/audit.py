"""Audit trail: who did what to which object, when, from where. Never a name, never an image.

Rows are append-only (database triggers refuse UPDATE and DELETE) and hash-chained in ``seq`` order:
each row's ``row_hash`` covers its own fields and the previous row's hash (see ``core.audit``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from neopain.app.models.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The chain's order, given under the chain lock at commit (ids come earlier, from a sequence).
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(32))  # view | create | correct | export | delete | login ...
    object_type: Mapped[str] = mapped_column(String(32))  # baby | assessment | record | user | session
    object_id: Mapped[str] = mapped_column(String(64), default="")
    # The baby an access concerns (opaque id), so "who opened baby X" survives the baby's erasure.
    subject: Mapped[str] = mapped_column(String(32), default="", index=True)
    client: Mapped[str] = mapped_column(String(64), default="")  # the client's address
    session_ref: Mapped[str] = mapped_column(String(32), default="")  # the login session's row id
    detail: Mapped[dict | None] = mapped_column(JSON)  # e.g. a label change's old and new value
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last chained ``seq`` and its hash. Updating it is the chain's lock on every backend."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    row_hash: Mapped[str] = mapped_column(String(64))
