"""Saved frames: the first face of an assessment and each change of class."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from neopain.app.models.baby import Assessment, Baby
from neopain.app.models.base import Base, UTCDateTime, opaque_id, utcnow


class Record(Base):
    __tablename__ = "records"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=opaque_id)
    baby_id: Mapped[int] = mapped_column(ForeignKey("babies.id", ondelete="CASCADE"), index=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    # A random file name under the images folder; never derived from the baby or the time.
    # None once the retention period purged the image (the row and its labels stay).
    image_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    image_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    p_pain: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float] | None] = mapped_column(JSON)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    processing_ms: Mapped[float] = mapped_column(Float)
    model_id: Mapped[str] = mapped_column(String(128))
    # The client's id for the frame: a retried upload finds its record instead of saving it twice.
    client_frame_id: Mapped[str] = mapped_column(String(64), unique=True)
    confirmed_label: Mapped[str | None] = mapped_column(String(16))
    nfcs_actions: Mapped[list[str] | None] = mapped_column(JSON)  # the actions a clinician saw present
    # The actions that clinician coded (present or not); None on records coded before lip purse existed,
    # which coded the other nine. An action outside it is unknown, never absent.
    nfcs_coded: Mapped[list[str] | None] = mapped_column(JSON)
    # An NFCS model's reading at capture (neopain.inference.NfcsReading.to_dict()), None for pain-only models.
    nfcs_model: Mapped[dict | None] = mapped_column(JSON)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    baby: Mapped[Baby] = relationship(lazy="joined")
    assessment: Mapped[Assessment] = relationship(lazy="joined")

    @property
    def effective_label(self) -> str:
        """What the record says now: a clinician's confirmation overrides the model."""
        return self.confirmed_label or self.label
