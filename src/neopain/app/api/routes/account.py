"""A user's own account: change the password (forced after a reset), see and end one's sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from neopain.app.api.deps import SESSION_COOKIE, CurrentUser, Db, FormCsrf, Login, State
from neopain.app.api.render import page
from neopain.app.core.security import PasswordPolicyError
from neopain.app.core.sessions import end_user_sessions, start_session, user_sessions
from neopain.app.services.users import AccountError, change_password, log_out_everywhere

router = APIRouter(tags=["account"], prefix="/account")


@router.get("", response_class=HTMLResponse)
def account(request: Request, state: State, db: Db, user: CurrentUser) -> HTMLResponse:
    return page(request, state, "sessions.html", target=user, sessions=user_sessions(db, user), tz=state.tz,
                own=True)


@router.post("/logout-everywhere", dependencies=[FormCsrf])
def logout_everywhere(db: Db, user: CurrentUser) -> Response:
    log_out_everywhere(db, user, user)
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request, state: State, login: Login) -> HTMLResponse:
    return page(request, state, "password.html", forced=login.user.must_change_password, error="")


@router.post("/password", dependencies=[FormCsrf], response_class=HTMLResponse)
def password_change(
    request: Request,
    state: State,
    db: Db,
    login: Login,
    current: Annotated[str, Form(min_length=1, max_length=256)],
    new: Annotated[str, Form(min_length=1, max_length=256)],
    repeat: Annotated[str, Form(min_length=1, max_length=256)],
) -> Response:
    """The new password ends every other session of the account (this one goes on)."""
    user = login.user
    try:
        if new != repeat:
            raise AccountError("the two new passwords differ")
        change_password(db, user, current, new)
    except (AccountError, PasswordPolicyError) as exc:
        db.rollback()
        return page(request, state, "password.html", 422, forced=user.must_change_password, error=str(exc))
    end_user_sessions(db, user)
    token, _row = start_session(db, user, login.client)
    db.commit()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=state.settings.secure_cookies)
    return response
