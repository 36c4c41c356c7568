"""Accounts and the audit trail, for the admin (who sees no patient data)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from neopain.app.api.deps import Admin, Db, FormCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.settings import ROLES
from neopain.app.models import AuditEvent, User
from neopain.app.schemas import UserCreate
from neopain.app.services.babies import baby_by_public_id
from neopain.app.services.retention import delete_baby
from neopain.app.services.users import UserExists, create_user

router = APIRouter(tags=["admin"], prefix="/admin")
AUDIT_SHOWN = 300
CSV_COLUMNS = ("at_utc", "username", "action", "object_type", "object_id")


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas: a typed user name like '=HYPERLINK(..)' stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def audit_to_csv(events) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow([e.at.isoformat(), _cell(e.username), e.action, e.object_type, _cell(e.object_id)])
    return buffer.getvalue()


def _users_page(
    request: Request, state: State, db: Db, error: str = "", status_code: int = 200
) -> HTMLResponse:
    users = list(db.scalars(select(User).order_by(User.username)))
    return page(request, state, "users.html", status_code, users=users, roles=ROLES, error=error)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, state: State, db: Db, user: Admin) -> HTMLResponse:
    return _users_page(request, state, db)


@router.post("/users", dependencies=[FormCsrf], response_class=HTMLResponse)
def add_user(
    request: Request,
    state: State,
    db: Db,
    user: Admin,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    role: Annotated[str, Form(min_length=1, max_length=16)],
) -> Response:
    try:
        new = create_user(db, UserCreate(username=username, password=password, role=role))
    except ValidationError as exc:
        message = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return _users_page(request, state, db, message, 422)
    except UserExists as exc:
        return _users_page(request, state, db, str(exc), 409)
    audit(db, user, "create", "user", new.username)
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, state: State, db: Db, user: Admin) -> HTMLResponse:
    events = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_SHOWN)))
    return page(request, state, "audit.html", events=events, tz=state.tz)


@router.get("/audit.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def audit_csv(db: Db, user: Admin) -> Response:
    """The whole audit trail as CSV (UTC times); exporting it is itself audited."""
    audit(db, user, "export", "audit")
    db.commit()
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.id))
    return Response(
        audit_to_csv(events),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="neopain-audit.csv"'},
    )


@router.get("/erase", response_class=HTMLResponse)
def erase_form(request: Request, state: State, user: Admin) -> HTMLResponse:
    return page(request, state, "erase.html", error="", done=None)


@router.post("/erase", dependencies=[FormCsrf], response_class=HTMLResponse)
def erase(
    request: Request,
    state: State,
    db: Db,
    user: Admin,
    baby_id: Annotated[str, Form(min_length=1, max_length=64)],
    confirm: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """Delete a baby's data on request (rows and image files); only an audit row remains."""
    baby_id = baby_id.strip()
    if confirm.strip() != baby_id:
        return page(request, state, "erase.html", 422, error="type the id twice to confirm", done=None)
    baby = baby_by_public_id(db, baby_id)
    if baby is None:
        raise HTTPException(404, "no baby with this id (already erased?)")
    done = delete_baby(db, state.images, baby, user)
    return page(request, state, "erase.html", error="", done=done)
