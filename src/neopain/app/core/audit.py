"""Writing audit rows: ids only (the baby's opaque id, a record's id), never a name or an image."""

from __future__ import annotations

from sqlalchemy.orm import Session

from neopain.app.models import AuditEvent, User


def audit(db: Session, user: User | None, action: str, object_type: str, object_id: str = "") -> None:
    """Add an audit row to the caller's transaction, so it commits (or not) with the change it records."""
    db.add(
        AuditEvent(
            user_id=user.id if user else None,
            username=user.username if user else "",
            action=action,
            object_type=object_type,
            object_id=object_id,
        )
    )
