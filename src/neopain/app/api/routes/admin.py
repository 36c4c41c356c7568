"""Accounts and the audit trail, for the admin (who sees no patient data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from neopain.app.api.deps import Admin, Db, FormCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.settings import ROLES
from neopain.app.models import AuditEvent, User
from neopain.app.schemas import UserCreate
from neopain.app.services.users import UserExists, create_user

router = APIRouter(tags=["admin"], prefix="/admin")
AUDIT_SHOWN = 300


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
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[str, Form(max_length=16)],
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
