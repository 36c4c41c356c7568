"""Rendering pages with what every page needs: the user, the CSRF token, the synthetic-model banner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from neopain.app.api.deps import AppState
from neopain.app.core.settings import CLINICAL_ROLES


def page(
    request: Request, state: AppState, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    login = getattr(request.state, "login", None)
    predictor = state.predictor.peek()
    base = {
        "user": login.user if login else None,
        "csrf_token": login.csrf_token if login else "",
        "clinical": bool(login and login.user.role in CLINICAL_ROLES),
        "synthetic_model": bool(predictor is not None and getattr(predictor, "synthetic", False)),
        "model_ready": predictor is not None,
    }
    return state.templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def commit_or_explain(
    db: Session, change: Callable[[], object], errors: tuple[type[Exception], ...], redirect: str,
    explain: Callable[[str], HTMLResponse],
) -> Response:
    """Make ``change`` and commit, then redirect (303); a refused change rolls back and ``explain``s why."""
    try:
        change()
    except errors as exc:
        db.rollback()
        return explain(str(exc))
    db.commit()
    return RedirectResponse(redirect, status_code=303)
