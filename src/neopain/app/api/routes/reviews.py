"""Retrospective review: a recorded clip of a baby uploaded and scored after the fact, then decided on the
same page as a camera window."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from neopain.app.api.deps import AppState, Clinician, Db, FormCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.inference import ModelUnavailable
from neopain.app.models import Baby
from neopain.app.schemas import INSTRUMENT_NAMES
from neopain.app.services.access import require_baby
from neopain.app.services.babies import baby_by_public_id
from neopain.app.services.baselines import current_baseline, is_stale
from neopain.app.services.clips import ClipError, ClipRequest, review_clip, write_private
from neopain.app.services.observation_views import choices

router = APIRouter(tags=["observations"])
REVIEW_PATH = r"/babies/[^/]+/review"  # the one route that takes a clip (its own body limit)


def _baby(db: Db, user: Clinician, baby_id: str) -> Baby:
    baby = baby_by_public_id(db, baby_id)
    if baby is None:
        raise HTTPException(404, "no such baby")
    return require_baby(db, user, baby)


def _review_page(request: Request, state: AppState, db: Db, baby: Baby, status: int = 200,
                 error: str = "") -> HTMLResponse:
    try:
        version = state.predictor.nfcs_version()
    except ModelUnavailable:
        version = None
    settings = state.settings
    baseline = current_baseline(db, baby)
    return page(request, state, "review.html", status, baby=baby, error=error,
                instruments=choices(version, settings.baseline_seconds, settings.observe_window_seconds),
                baseline=baseline, baseline_stale=baseline is not None and is_stale(baseline), tz=state.tz,
                max_mib=settings.max_clip_bytes // (1024 * 1024), max_seconds=settings.max_clip_seconds)


@router.get("/babies/{baby_id}/review", response_class=HTMLResponse)
def review_form(request: Request, state: State, db: Db, user: Clinician, baby_id: str) -> HTMLResponse:
    baby = _baby(db, user, baby_id)
    audit(db, user, "view", "review", baby.public_id, subject=baby.public_id)
    db.commit()
    return _review_page(request, state, db, baby)


@router.post("/babies/{baby_id}/review", dependencies=[FormCsrf], response_class=HTMLResponse)
def review_upload(
    request: Request,
    state: State,
    db: Db,
    user: Clinician,
    baby_id: str,
    clip: Annotated[UploadFile, File(description="a video of the baby's face (AVI, MP4, MOV, MKV, WebM)")],
    instrument: Annotated[Literal[INSTRUMENT_NAMES], Form()],  # type: ignore[valid-type]
    window: Annotated[int, Form(ge=1, le=10_000, description="which window of the clip: 1 from 0 s")] = 1,
    with_baseline: Annotated[bool, Form()] = False,
) -> Response:
    """Score one window of the clip with the served model: the proposals page, or the form again with why
    it cannot (undecodable, no frame rate, shorter than the window: nothing is saved)."""
    baby = _baby(db, user, baby_id)
    settings = state.settings
    folder = settings.app_dir / "tmp"
    path = None
    try:
        path = write_private(clip.file, folder, clip.filename or "", settings.max_clip_bytes)
        asked = ClipRequest(instrument, window, with_baseline)
        obs = review_clip(db, user, baby, state.predictor, path, asked, settings)
        db.commit()
    except ClipError as exc:
        db.rollback()
        return _review_page(request, state, db, baby, exc.status, str(exc))
    except ModelUnavailable as exc:
        db.rollback()
        return _review_page(request, state, db, baby, 503, str(exc))
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    return RedirectResponse(f"/observations/{obs.public_id}", status_code=303)
