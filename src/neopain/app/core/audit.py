"""Writing audit rows (ids only: never a name or an image) into a hash chain that commits with the change.

``audit()`` queues a row on the caller's session; at commit the chain lock (an UPDATE of the single
``audit_head`` row: a row lock on PostgreSQL, the write lock on SQLite) numbers the queued rows and
chains their hashes, so concurrent processes never fork the chain and a rolled-back change leaves no row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session, sessionmaker

from neopain.app.models import AuditEvent, AuditHead, User, utcnow

GENESIS = "0" * 64
PENDING = "neopain_audit_pending"
CLIENT = "neopain_audit_client"  # Session.info keys set by the request's dependencies
SESSION = "neopain_audit_session"
# The fields a row's hash covers, in this order. Changing it starts a new chain: never edit in place.
CHAINED = ("seq", "at", "user_id", "username", "action", "object_type", "object_id", "subject", "client",
           "session_ref", "detail")


class AuditChainError(RuntimeError):
    """The chain cannot be extended (its head row is missing)."""


def audit(
    db: Session,
    user: User | None,
    action: str,
    object_type: str,
    object_id: str = "",
    *,
    subject: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Queue an audit row on the caller's transaction: it commits (or not) with the change it records."""
    row = AuditEvent(
        at=utcnow(),
        user_id=user.id if user else None,
        username=user.username if user else "",
        action=action,
        object_type=object_type,
        object_id=object_id[:64],
        subject=subject,
        client=str(db.info.get(CLIENT, ""))[:64],
        session_ref=str(db.info.get(SESSION, "")),
        detail=detail,
    )
    if not db.in_transaction():
        db.begin()  # so that a rollback before any other statement also drops the queued row
    db.info.setdefault(PENDING, []).append(row)


def account_ref(key: bytes, username: str) -> str:
    """A keyed hash of a typed user name: failed logins never store text that could be a password."""
    digest = hmac.new(key, username.strip().lower().encode(), hashlib.sha256).hexdigest()
    return "h:" + digest[:24]


def chained_value(row: Any, name: str) -> object:
    value = getattr(row, name)
    if name == "at":
        return value.isoformat(timespec="microseconds")
    return value


def row_digest(prev_hash: str, row: Any) -> str:
    """SHA-256 over the previous hash and the row's chained fields (canonical JSON)."""
    fields = {name: chained_value(row, name) for name in CHAINED}
    payload = json.dumps({"prev": prev_hash, **fields}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _lock_head(db: Session) -> tuple[int, str]:
    head = AuditHead.__table__
    row = db.connection().execute(
        update(head).where(head.c.id == 1).values(seq=head.c.seq).returning(head.c.seq, head.c.row_hash)
    ).first()
    if row is None:
        raise AuditChainError("the audit chain's head row is missing: run `neopain audit verify`")
    return int(row[0]), str(row[1])


def _chain_pending(db: Session) -> None:
    pending: list[AuditEvent] = db.info.pop(PENDING, None) or []
    if not pending:
        return
    seq, last = _lock_head(db)
    for row in pending:
        seq += 1
        row.seq, row.prev_hash = seq, last
        row.row_hash = last = row_digest(last, row)
    db.add_all(pending)
    head = AuditHead.__table__
    db.connection().execute(update(head).where(head.c.id == 1).values(seq=seq, row_hash=last))


def _drop_pending(db: Session, *_args: object) -> None:
    db.info.pop(PENDING, None)


def install_chain(factory: sessionmaker[Session]) -> None:
    """Make ``factory``'s sessions chain their queued audit rows at commit and drop them on rollback."""
    event.listen(factory, "before_commit", _chain_pending)
    event.listen(factory, "after_soft_rollback", _drop_pending)
