"""Login and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from neopain.app.api.deps import (
    AUDIT_SESSION,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Db,
    FormCsrf,
    Login,
    State,
    client_address,
)
from neopain.app.api.render import page
from neopain.app.core.audit import account_ref, audit
from neopain.app.core.security import new_token, same_token
from neopain.app.core.sessions import authenticate, end_session, start_session

router = APIRouter(tags=["auth"])


def _login_page(request: Request, state: State, error: str = "", status_code: int = 200) -> HTMLResponse:
    # Login CSRF: a double-submit token (cookie + hidden field), since there is no session yet.
    token = new_token()
    response = page(
        request,
        state,
        "login.html",
        status_code,
        login_csrf=token,
        error=error,
        expired=request.query_params.get("expired") == "1",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=state.settings.secure_cookies, path="/login"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: State) -> HTMLResponse:
    return _login_page(request, state)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    state: State,
    db: Db,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(request, state, "The form expired; please try again.", 403)
    username = username.strip()
    address = client_address(request)
    # What was typed as a user name may be a password typed in the wrong box: only its keyed hash is kept.
    typed = account_ref(state.secret, username)
    wait = state.throttle.reserve(username, address)
    if wait:
        # Counted and checked before the password, so a guesser learns nothing while throttled.
        audit(db, None, "login_throttled", "user", typed)
        db.commit()
        response = _login_page(request, state, f"Too many failed logins; try again in {wait} s.", 429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = authenticate(db, username, password)
    if user is None:
        audit(db, None, "login_failed", "user", typed)
        db.commit()
        return _login_page(request, state, "Wrong user name or password.", 401)
    state.throttle.succeeded(username, address)
    token, row = start_session(db, user, address)
    db.info[AUDIT_SESSION] = str(row.id)
    audit(db, user, "login", "session", str(row.id))
    db.commit()
    target = "/account/password" if user.must_change_password else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=state.settings.secure_cookies)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[FormCsrf])
def logout(db: Db, login: Login) -> Response:
    audit(db, login.user, "logout", "session")
    end_session(db, login)
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
