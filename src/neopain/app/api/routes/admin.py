"""Accounts and erasure, for the admin (who sees no patient data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from neopain.app.api.deps import Admin, Db, FormCsrf, State
from neopain.app.api.render import commit_or_explain, page
from neopain.app.core.security import PasswordPolicyError
from neopain.app.core.sessions import user_sessions
from neopain.app.core.settings import ROLES
from neopain.app.models import User
from neopain.app.schemas import UserCreate
from neopain.app.services.babies import baby_by_public_id
from neopain.app.services.retention import delete_baby
from neopain.app.services.users import (
    AccountError,
    UserExists,
    create_user,
    log_out_everywhere,
    reset_password,
    set_active,
    set_role,
)

router = APIRouter(tags=["admin"], prefix="/admin")
MAX_ID = 2**31 - 1  # an integer column on every backend
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="the account's numeric id")]


def _users_page(
    request: Request, state: State, db: Db, error: str = "", status_code: int = 200, **extra: object
) -> HTMLResponse:
    users = list(db.scalars(select(User).order_by(User.username)))
    return page(request, state, "users.html", status_code, users=users, roles=ROLES, error=error, **extra)


def _user_or_404(db: Db, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user


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
        create_user(db, UserCreate(username=username, password=password, role=role), user)
    except ValidationError as exc:
        message = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return _users_page(request, state, db, message, 422)
    except PasswordPolicyError as exc:
        return _users_page(request, state, db, str(exc), 422)
    except UserExists as exc:
        return _users_page(request, state, db, str(exc), 409)
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/active", dependencies=[FormCsrf], response_class=HTMLResponse)
def set_user_active(
    request: Request, state: State, db: Db, user: Admin, user_id: UserId, active: Annotated[bool, Form()]
) -> Response:
    """Disable (every session of the account ends at once) or re-enable an account."""
    target = _user_or_404(db, user_id)
    return commit_or_explain(db, lambda: set_active(db, target, active, user), (AccountError,), "/admin/users",
                             lambda why: _users_page(request, state, db, why, 409))


@router.post("/users/{user_id}/role", dependencies=[FormCsrf], response_class=HTMLResponse)
def change_user_role(
    request: Request,
    state: State,
    db: Db,
    user: Admin,
    user_id: UserId,
    role: Annotated[str, Form(min_length=1, max_length=16)],
) -> Response:
    target = _user_or_404(db, user_id)
    return commit_or_explain(db, lambda: set_role(db, target, role, user), (AccountError,), "/admin/users",
                             lambda why: _users_page(request, state, db, why, 422))


@router.post("/users/{user_id}/reset", dependencies=[FormCsrf], response_class=HTMLResponse)
def reset_user_password(request: Request, state: State, db: Db, user: Admin, user_id: UserId) -> HTMLResponse:
    """A one-time password, shown on this page only, to be changed at the next login."""
    target = _user_or_404(db, user_id)
    password = reset_password(db, target, user)
    db.commit()
    return _users_page(request, state, db, one_time=(target.username, password))


@router.get("/users/{user_id}/sessions", response_class=HTMLResponse)
def list_user_sessions(request: Request, state: State, db: Db, user: Admin, user_id: UserId) -> HTMLResponse:
    target = _user_or_404(db, user_id)
    return page(request, state, "sessions.html", target=target, sessions=user_sessions(db, target), tz=state.tz,
                own=False)


@router.post("/users/{user_id}/logout", dependencies=[FormCsrf])
def log_user_out_everywhere(db: Db, user: Admin, user_id: UserId) -> Response:
    target = _user_or_404(db, user_id)
    log_out_everywhere(db, target, user)
    db.commit()
    return RedirectResponse(f"/admin/users/{target.id}/sessions", status_code=303)


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
