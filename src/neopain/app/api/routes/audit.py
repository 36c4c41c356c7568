"""The audit trail for the admin: every row page by page, "who opened baby X", the CSV, a chain check."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from neopain.app.api.deps import Admin, Db, FormCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import account_ref, audit
from neopain.app.models import AuditEvent
from neopain.app.services.audit_chain import verify_chain

router = APIRouter(tags=["admin"], prefix="/admin")
PAGE_SIZE = 100
CSV_COLUMNS = ("seq", "at_utc", "username", "action", "object_type", "object_id", "subject", "client",
               "session", "detail", "row_hash")


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas: a typed user name like '=HYPERLINK(..)' stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_row(e: AuditEvent) -> list[str]:
    detail = "" if e.detail is None else ";".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
    return [str(e.seq), e.at.isoformat(), _cell(e.username), e.action, e.object_type, _cell(e.object_id),
            _cell(e.subject), _cell(e.client), e.session_ref, _cell(detail), e.row_hash]


def audit_to_csv(events: Iterable[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for i, e in enumerate(events):
        writer.writerow(_csv_row(e))
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def filtered(key: bytes, user: str, baby: str, action: str):  # type: ignore[no-untyped-def]
    """The audit query for the admin's filters: a user (also their failed logins), a baby, an action."""
    statement = select(AuditEvent)
    if user:
        statement = statement.where(or_(AuditEvent.username == user, AuditEvent.object_id == user,
                                        AuditEvent.object_id == account_ref(key, user)))
    if baby:
        # Lists and searches name the babies they showed in their detail.
        shown = cast(AuditEvent.detail, String).like(f"%{baby}%")
        statement = statement.where(or_(AuditEvent.subject == baby, AuditEvent.object_id == baby, shown))
    if action:
        statement = statement.where(AuditEvent.action == action)
    return statement


def _page_of(db: Session, statement, before: int | None) -> tuple[list[AuditEvent], int | None]:  # type: ignore[no-untyped-def]
    if before is not None:
        statement = statement.where(AuditEvent.seq < before)
    rows = list(db.scalars(statement.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE + 1)))
    older = rows[PAGE_SIZE - 1].seq if len(rows) > PAGE_SIZE else None
    return rows[:PAGE_SIZE], older


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    state: State,
    db: Db,
    user: Admin,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="show rows older than this seq")] = None,
    who: Annotated[str, Query(max_length=64, description="a user name")] = "",
    baby: Annotated[str, Query(max_length=64, description="a baby's opaque id: who opened it")] = "",
    action: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    who, baby, action = who.strip(), baby.strip(), action.strip()
    events, older = _page_of(db, filtered(state.secret, who, baby, action), before)
    if baby:
        audit(db, user, "view", "audit_of_baby", baby, subject=baby)
        db.commit()
    return page(request, state, "audit.html", events=events, tz=state.tz, older=older, who=who, baby=baby,
                action=action, page_size=PAGE_SIZE, chain=None)


@router.post("/audit/verify", dependencies=[FormCsrf], response_class=HTMLResponse)
def audit_verify(request: Request, state: State, db: Db, user: Admin) -> HTMLResponse:
    """Check the whole chain now (the same check as `neopain audit verify`)."""
    report = verify_chain(db)
    audit(db, user, "verify", "audit", detail={"rows": report.rows, "ok": report.ok})
    db.commit()
    events, older = _page_of(db, select(AuditEvent), None)
    return page(request, state, "audit.html", events=events, tz=state.tz, older=older, who="", baby="",
                action="", page_size=PAGE_SIZE, chain=report)


@router.get("/audit.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def audit_csv(state: State, db: Db, user: Admin) -> Response:
    """The whole audit trail as CSV (UTC times, streamed); exporting it is itself audited."""
    audit(db, user, "export", "audit")
    db.commit()
    factory = state.sessions

    def rows() -> Iterator[str]:
        with factory() as reader:
            yield from audit_to_csv(reader.scalars(select(AuditEvent).order_by(AuditEvent.seq)
                                                   .execution_options(yield_per=500)))

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="neopain-audit.csv"'})
