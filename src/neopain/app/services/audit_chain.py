"""Checking the audit chain end to end: ``neopain audit verify`` and the admin's audit page use this."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from neopain.app.core.audit import GENESIS, row_digest
from neopain.app.models import AuditEvent, AuditHead

BATCH = 2000


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head_seq: int
    head_hash: str
    problem: str = ""  # empty when the chain is intact

    @property
    def ok(self) -> bool:
        return not self.problem


def _check_row(row: AuditEvent, expected_seq: int, prev_hash: str) -> str:
    where = f"audit row seq {row.seq} (id {row.id})"
    if row.seq != expected_seq:
        if row.seq > expected_seq:
            return f"{where}: rows seq {expected_seq}..{row.seq - 1} are missing (deleted)"
        return f"{where}: out of order"
    if row.prev_hash != prev_hash:
        return f"{where}: does not follow seq {expected_seq - 1} (a row before it was deleted or replaced)"
    if row.row_hash != row_digest(prev_hash, row):
        return f"{where}: altered (its hash does not match its contents)"
    return ""


def verify_chain(db: Session) -> ChainReport:
    """Walk every row in ``seq`` order; the first altered, missing or out-of-order row is named."""
    head = db.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.row_hash) if head else (-1, "")
    expected, prev, count, after = 1, GENESIS, 0, 0
    while True:
        rows = list(db.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)
                               .limit(BATCH)))
        for row in rows:
            problem = _check_row(row, expected, prev)
            if problem:
                return ChainReport(count, head_seq, head_hash, problem)
            expected, prev, count = expected + 1, row.row_hash, count + 1
        if len(rows) < BATCH:
            break
        after = rows[-1].seq
        db.expunge_all()  # a long trail is read in batches, never all at once
    if head is None:
        return ChainReport(count, head_seq, head_hash, "the audit head row is missing")
    if (head_seq, head_hash) != (count, prev):
        what = "were deleted" if head_seq > count else "were added without the chain lock"
        return ChainReport(count, head_seq, head_hash,
                           f"the head says seq {head_seq} but the last row is seq {count}: rows at the end {what}")
    if unchained := db.scalar(select(AuditEvent.id).where(AuditEvent.seq.is_(None)).limit(1)):
        return ChainReport(count, head_seq, head_hash, f"audit row id {unchained} has no place in the chain")
    return ChainReport(count, head_seq, head_hash)
