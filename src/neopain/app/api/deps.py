"""Dependencies every route declares with ``Annotated``: database, login, roles, CSRF, app state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Header, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from neopain.app.core.audit import CLIENT as AUDIT_CLIENT
from neopain.app.core.audit import SESSION as AUDIT_SESSION
from neopain.app.core.explanations import Explainer
from neopain.app.core.inference import PredictorHolder
from neopain.app.core.ratelimit import LoginThrottle
from neopain.app.core.security import same_token
from neopain.app.core.sessions import find_session
from neopain.app.core.settings import CLINICAL_ROLES, AppSettings
from neopain.app.core.storage import ImageStore
from neopain.app.models import User, UserSession

SESSION_COOKIE = "neopain_session"
LOGIN_CSRF_COOKIE = "neopain_login_csrf"


@dataclass
class AppState:
    settings: AppSettings
    engine: Engine
    sessions: sessionmaker[Session]
    predictor: PredictorHolder
    images: ImageStore
    templates: Jinja2Templates
    tz: ZoneInfo
    throttle: LoginThrottle
    explainer: Explainer
    secret: bytes


class NotAuthenticated(Exception):
    """No live session: pages redirect to the login, the JSON API answers 401."""


class PasswordChangeRequired(Exception):
    """Logged in with a one-time password: every page but the password change redirects there."""


class Forbidden(Exception):
    """Logged in, but the role may not do this (403)."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token (403)."""


def get_state(request: Request) -> AppState:
    return request.app.state.neopain


State = Annotated[AppState, Depends(get_state)]


def client_address(request: Request) -> str:
    """The client's address (the proxy's forwarded one when the proxy is trusted, see ``main``)."""
    return request.client.host if request.client else ""


def get_db(request: Request, state: State) -> Iterator[Session]:
    session = state.sessions()
    session.info[AUDIT_CLIENT] = client_address(request)
    try:
        yield session
    finally:
        session.close()


Db = Annotated[Session, Depends(get_db)]


def get_login(request: Request, state: State, db: Db) -> UserSession:
    row = find_session(db, request.cookies.get(SESSION_COOKIE), state.settings.lifetimes)
    if row is None:
        raise NotAuthenticated()
    request.state.login = row
    db.info[AUDIT_SESSION] = str(row.id)
    return row


Login = Annotated[UserSession, Depends(get_login)]


# The pages a user with a one-time password may open before choosing a new one.
PASSWORD_CHANGE_PATHS = ("/account/password", "/logout")


def get_user(request: Request, login: Login) -> User:
    if login.user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired()
    return login.user


CurrentUser = Annotated[User, Depends(get_user)]


def require_roles(*roles: str) -> Any:
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden()
        return user

    return Depends(check)


Clinician = Annotated[User, require_roles(*CLINICAL_ROLES)]
Admin = Annotated[User, require_roles("admin")]


def check_form_csrf(login: Login, csrf_token: Annotated[str, Form()] = "") -> None:
    if not same_token(csrf_token, login.csrf_token):
        raise CsrfFailed()


def check_header_csrf(login: Login, x_csrf_token: Annotated[str | None, Header()] = None) -> None:
    if not same_token(x_csrf_token, login.csrf_token):
        raise CsrfFailed()


FormCsrf = Depends(check_form_csrf)
HeaderCsrf = Depends(check_header_csrf)
