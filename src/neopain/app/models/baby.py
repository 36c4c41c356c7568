"""Babies and their assessments (one camera session each)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from neopain.app.models.base import Base, UTCDateTime, opaque_id, utcnow
from neopain.app.models.unit import Unit


class Baby(Base):
    """The display name lives only here: URLs, logs, audit rows and exports use ``public_id``."""

    __tablename__ = "babies"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=opaque_id)
    display_name: Mapped[str] = mapped_column(String(120))
    # Bed or record number, shown beside the name so two babies of one name are told apart; like the name,
    # never in a URL, a log or an audit row.
    identifier: Mapped[str] = mapped_column(String(40), default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    unit: Mapped[Unit] = relationship(lazy="joined")


class Assessment(Base):
    """One camera session on one baby; holds the saving rule's state so it survives restarts."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=opaque_id)
    baby_id: Mapped[int] = mapped_column(ForeignKey("babies.id", ondelete="CASCADE"), index=True)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Whose camera it is now: another user takes it over only by confirming (audited).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The camera page that owns the assessment now; an older tab's frames are refused (see docs/APP.md).
    client_token: Mapped[str] = mapped_column(String(64), default=opaque_id)
    last_saved_label: Mapped[str | None] = mapped_column(String(16))
    frames_seen: Mapped[int] = mapped_column(Integer, default=0)
    faces_seen: Mapped[int] = mapped_column(Integer, default=0)
    # The latest frame ids answered without a record: a phone's retry of one gets "not saved" again, instead
    # of being judged anew against a saving rule that later frames have moved on.
    unsaved_frames: Mapped[list[str] | None] = mapped_column(JSON)

    baby: Mapped[Baby] = relationship(lazy="joined")
