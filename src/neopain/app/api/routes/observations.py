"""Observe mode: start a window (or a baseline) on the camera's assessment, end it, and the page where the
nurse accepts or changes each proposed item and enters the others."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from neopain.app.api.deps import AppState, Clinician, Db, FormCsrf, HeaderCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.inference import ModelUnavailable
from neopain.app.models import Assessment, Observation, User
from neopain.app.schemas import ErrorPublic, ObservationPublic, ObservationStartIn, ProposalPublic
from neopain.app.services.access import require_baby
from neopain.app.services.baselines import BaselineUnusable
from neopain.app.services.decisions import ACCEPT, CHANGE, item_views, save
from neopain.app.services.observation_views import timeline_of
from neopain.app.services.observations import ObservationError, end, observation_by_id, start, window_length
from neopain.inference import PROPOSES
from neopain.scales.instruments import instrument

router = APIRouter(tags=["observations"])
ERRORS = {code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 422, 503)}


def _observation_for(db: Db, user: User, public_id: str) -> Observation:
    obs = observation_by_id(db, public_id)
    if obs is None:
        raise HTTPException(404, "no such observation")
    require_baby(db, user, obs.baby)
    return obs


def _holds_camera(db: Db, user: User, assessment_id: int | None) -> None:
    assessment = db.get(Assessment, assessment_id) if assessment_id is not None else None
    if assessment is not None and assessment.owner_id not in (None, user.id):
        raise HTTPException(409, "another user took this assessment's camera over")


def _title(obs: Observation) -> str:
    return instrument(obs.instrument).title if obs.instrument else "baseline (a settled window)"


def _public(obs: Observation, message: str | None = None) -> ObservationPublic:
    proposals = []
    if obs.proposals and obs.instrument:
        inst = instrument(obs.instrument)
        for item in inst.facial_items:
            got = obs.proposals.get(item.key) or {}
            value = got.get("value")
            anchor = next((a.label for a in item.anchors if a.value == value), None)
            proposals.append(ProposalPublic(item=item.key, label=item.label, value=value, anchor=anchor,
                                            reason=got.get("reason", "")))
    return ObservationPublic(
        id=obs.public_id, kind=obs.kind, instrument=obs.instrument,  # type: ignore[arg-type]
        title=_title(obs), window_s=obs.window_s, status=obs.status,  # type: ignore[arg-type]
        frames=len(obs.timeline),
        faces=sum(1 for e in obs.timeline if e["face"]), scorable=obs.scorable, proposals=proposals,
        review_url=f"/observations/{obs.public_id}" if obs.status in ("proposed", "saved") else None,
        message=message)


def _served(state: AppState) -> tuple[str, str]:
    """(model id, NFCS version) of the served model; 503 without one, 409 when it reads no NFCS actions."""
    try:
        version = state.predictor.nfcs_version()
        model_id = state.predictor.get().model_id
    except ModelUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    if version is None:
        raise HTTPException(409, "the served model reads no NFCS actions: Observe needs an NFCS model")
    return model_id, version


@router.post("/api/assessments/{assessment_id}/observations", dependencies=[HeaderCsrf],
             response_model=ObservationPublic, responses=ERRORS)
def start_observation(state: State, db: Db, user: Clinician, assessment_id: str,
                      body: ObservationStartIn) -> ObservationPublic:
    """Start a window (an instrument, with or without the baby's baseline) or a baseline, recording now."""
    assessment = db.scalar(select(Assessment).where(Assessment.public_id == assessment_id))
    if assessment is None:
        raise HTTPException(404, "no such assessment")
    require_baby(db, user, assessment.baby)
    _holds_camera(db, user, assessment.id)
    if body.client_token != assessment.client_token:
        raise HTTPException(409, "this assessment continues in another tab or window; this one has stopped")
    model_id, version = _served(state)
    settings = state.settings
    inst = instrument(body.instrument) if body.kind == "observation" and body.instrument else None
    try:
        obs = start(db, user, assessment, kind=body.kind, instrument_name=body.instrument,
                    with_baseline=body.with_baseline, model_id=model_id, version=version,
                    window_s=window_length(inst, settings.baseline_seconds, settings.observe_window_seconds))
    except (ObservationError, BaselineUnusable) as exc:  # refused before any change: nothing to roll back
        raise HTTPException(exc.status, str(exc)) from exc
    db.commit()
    return _public(obs)


@router.post("/api/observations/{observation_id}/end", dependencies=[HeaderCsrf],
             response_model=ObservationPublic, responses=ERRORS)
def end_observation(db: Db, user: Clinician, observation_id: str) -> ObservationPublic:
    """Score the window (proposals with their reasons) or record the baseline; 422 says why it cannot."""
    obs = _observation_for(db, user, observation_id)
    _holds_camera(db, user, obs.assessment_id)
    kind, window_s, frames = obs.kind, obs.window_s, len(obs.timeline)
    try:
        baseline = end(db, user, obs)
    except ObservationError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    db.commit()
    if baseline is not None:
        return ObservationPublic(id=baseline.public_id, kind=kind, instrument=None,  # type: ignore[arg-type]
                                 title="baseline (a settled window)", window_s=window_s, status="recorded",
                                 frames=frames, faces=baseline.frames,
                                 message=f"Baseline recorded from {baseline.frames} face frames.")
    return _public(obs)


def _render(request: Request, state: AppState, obs: Observation, status: int = 200, error: str = "",
            form: dict[str, str] | None = None) -> HTMLResponse:
    return page(request, state, "observation.html", status, obs=obs, baby=obs.baby, rows=item_views(obs),
                inst=instrument(obs.instrument or ""), timeline=timeline_of(obs), proposes=PROPOSES,
                error=error, form=form or {}, accept=ACCEPT, change=CHANGE, tz=state.tz,
                saved=request.query_params.get("saved") == "1")


@router.get("/observations/{observation_id}", response_class=HTMLResponse)
def observation_page(request: Request, state: State, db: Db, user: Clinician,
                     observation_id: str) -> Response:
    """The proposals to decide (a window that has ended), or the saved observation."""
    obs = _observation_for(db, user, observation_id)
    if obs.status == "recording":
        raise HTTPException(409, "this window is still recording on the camera")
    audit(db, user, "view", "observation", obs.public_id, subject=obs.baby.public_id)
    db.commit()
    return _render(request, state, obs)


async def _form_fields(request: Request) -> dict[str, str]:
    """The decision form's fields (one pair per item of whichever instrument), as text."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


@router.post("/observations/{observation_id}", dependencies=[FormCsrf], response_class=HTMLResponse)
def save_observation(request: Request, state: State, db: Db, user: Clinician, observation_id: str,
                     fields: FormFields) -> Response:
    """Save the nurse's decisions: each facial item accepted or changed, the others entered (422 names the
    item that is missing or out of range; nothing is saved then)."""
    obs = _observation_for(db, user, observation_id)
    try:
        save(db, user, obs, fields)
    except ObservationError as exc:
        if exc.status == 409:  # refused before any change
            raise HTTPException(409, str(exc)) from exc
        db.rollback()
        return _render(request, state, obs, exc.status, str(exc), fields)
    db.commit()
    return RedirectResponse(f"/observations/{obs.public_id}?saved=1", status_code=303)
