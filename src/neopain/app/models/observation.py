"""Observation windows of a baby (an instrument scored over a window of camera frames or of a clip) and the
baby's baselines (a settled window its facial actions are coded against).

No image is kept: an observation holds its frames' timeline (time, face found, each action's probability).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from neopain.app.models.baby import Baby
from neopain.app.models.base import Base, UTCDateTime, opaque_id, utcnow


class BabyBaseline(Base):
    """A settled window before a procedure: per NFCS action the mean probability the model read.

    A baby has one current baseline (``replaced_at`` None); recording a new one marks the old one replaced
    and keeps it, since the observations coded against it point at it. Erasing the baby deletes them all.
    """

    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=opaque_id)
    baby_id: Mapped[int] = mapped_column(ForeignKey("babies.id", ondelete="CASCADE"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    means: Mapped[dict] = mapped_column(JSON)  # action -> mean smoothed probability (neopain.scales.windows)
    frames: Mapped[int] = mapped_column(Integer)  # face frames it rests on
    model_id: Mapped[str] = mapped_column(String(128))  # the model that read it: only its readings compare
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    baby: Mapped[Baby] = relationship(lazy="joined")


class Observation(Base):
    """One window: ``recording`` (frames arrive) -> ``proposed`` (the model's facial items) -> ``saved``.

    ``kind`` "baseline" rows are only the buffer of a baseline being recorded: deleted when it ends.
    ``items`` (once saved): per item its value, its source ("model" when the nurse accepted the proposal,
    "nurse" when she entered or changed it), the model's proposal and its reason.
    """

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=opaque_id)
    baby_id: Mapped[int] = mapped_column(ForeignKey("babies.id", ondelete="CASCADE"), index=True)
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id", ondelete="SET NULL"),
                                                      index=True)
    kind: Mapped[str] = mapped_column(String(16), default="observation")  # observation | baseline
    instrument: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="recording", index=True)
    retrospective: Mapped[bool] = mapped_column(Boolean, default=False)  # scored from an uploaded clip
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    window_start: Mapped[float] = mapped_column(Float, default=0.0)  # seconds on the timeline
    window_end: Mapped[float] = mapped_column(Float)
    baseline_id: Mapped[int | None] = mapped_column(ForeignKey("baselines.id", ondelete="SET NULL"))
    model_id: Mapped[str] = mapped_column(String(128))
    nfcs_version: Mapped[str] = mapped_column(String(16))
    timeline: Mapped[list] = mapped_column(JSON, default=list)  # [{"t", "face", "p": {action: p | None}}]
    proposals: Mapped[dict | None] = mapped_column(JSON)  # item -> {"value", "reason"}
    scorable: Mapped[bool | None] = mapped_column(Boolean)  # every facial item had a proposal
    items: Mapped[dict | None] = mapped_column(JSON)  # item -> {"value", "source", "proposal", "reason"}
    total: Mapped[int | None] = mapped_column(Integer)
    interpretation: Mapped[str | None] = mapped_column(String(80))
    pain: Mapped[bool | None] = mapped_column(Boolean)
    missing: Mapped[list | None] = mapped_column(JSON)  # counted items without a value (no total then)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    saved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    baby: Mapped[Baby] = relationship(lazy="joined")
    baseline: Mapped[BabyBaseline | None] = relationship(lazy="joined")

    @property
    def window_s(self) -> float:
        return self.window_end - self.window_start

    def sources(self, source: str) -> list[str]:
        """The saved items whose value came from ``source`` ("model" or "nurse")."""
        return [k for k, v in (self.items or {}).items() if v.get("source") == source]
