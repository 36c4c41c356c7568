"""Home, instructions, the model page and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from neopain.app.api.deps import CurrentUser, State
from neopain.app.api.render import page
from neopain.app.core.inference import ModelUnavailable

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
def home(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    return page(request, state, "home.html")


@router.get("/instructions", response_class=HTMLResponse)
def instructions(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    return page(request, state, "instructions.html")


@router.get("/model", response_class=HTMLResponse)
def model_page(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    predictor = state.predictor.peek()
    error = ""
    if predictor is None:
        try:
            state.predictor.get()
        except ModelUnavailable as exc:  # the message says what is missing
            error = str(exc)
    card = getattr(predictor, "card", None) if predictor else None
    return page(request, state, "model.html", predictor=predictor, card=card or {}, model_error=error)


@router.get("/healthz", tags=["health"])
def health() -> dict[str, str]:
    """Liveness for a supervisor; says nothing about patients."""
    return {"status": "ok"}
