"""Start an assessment, the camera page, and the frames the camera posts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from neopain.app.api.deps import Clinician, Db, FormCsrf, HeaderCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.inference import ModelUnavailable
from neopain.app.core.uploads import UploadError
from neopain.app.models import Assessment, User, opaque_id
from neopain.app.schemas import FRAME_ID, BabyPublic, BabySearchIn, ErrorPublic, FramePublic
from neopain.app.services.access import require_baby
from neopain.app.services.babies import BabyInputError, baby_by_public_id, create_baby, search_babies
from neopain.app.services.baselines import current_baseline, is_stale
from neopain.app.services.frames import FrameConflict, process_frame
from neopain.app.services.observation_views import choices
from neopain.app.services.observations import ObservationError, append_frame

router = APIRouter(tags=["assessments"])
ERRORS = {code: {"model": ErrorPublic} for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)}


def _assessment_or_404(db: Db, public_id: str) -> Assessment:
    assessment = db.scalar(select(Assessment).where(Assessment.public_id == public_id))
    if assessment is None:
        raise HTTPException(404, "no such assessment")
    return assessment


def _start_page(request: Request, state: State, db: Db, user: User, error: str = "", status: int = 200) -> HTMLResponse:
    """Lists the most recent babies of the user's units by name: a read of names, audited like a search."""
    recent = search_babies(db, "", user, limit=8)
    audit(db, user, "view", "baby_list", str(len(recent)), detail={"babies": ",".join(b.public_id for b in recent)})
    db.commit()
    return page(request, state, "start.html", status, recent=recent, units=user.units, error=error)


@router.get("/assessments/new", response_class=HTMLResponse)
def start_form(request: Request, state: State, db: Db, user: Clinician) -> HTMLResponse:
    return _start_page(request, state, db, user)


@router.post("/assessments", dependencies=[FormCsrf], response_class=HTMLResponse)
def start(
    request: Request,
    state: State,
    db: Db,
    user: Clinician,
    baby_id: Annotated[str, Form(max_length=64)] = "",
    new_name: Annotated[str, Form(max_length=400)] = "",
    identifier: Annotated[str, Form(max_length=200, description="bed or record number of a new baby")] = "",
    unit_id: Annotated[int | None, Form(ge=1, le=2**31 - 1, description="a new baby's unit")] = None,
) -> Response:
    """Either ``baby_id`` (an existing baby) or ``new_name`` and ``identifier`` (a new one)."""
    try:
        if baby_id:
            baby = baby_by_public_id(db, baby_id)
            if baby is None:
                raise BabyInputError("that baby is not in the list any more; search again")
            require_baby(db, user, baby)
        else:
            baby = create_baby(db, new_name, user, identifier, unit_id)
            audit(db, user, "create", "baby", baby.public_id, subject=baby.public_id)
    except BabyInputError as exc:
        db.rollback()
        return _start_page(request, state, db, user, str(exc), 422)
    assessment = Assessment(baby_id=baby.id, started_by=user.id, owner_id=user.id)
    db.add(assessment)
    db.flush()
    audit(db, user, "create", "assessment", assessment.public_id, subject=baby.public_id)
    db.commit()
    return RedirectResponse(f"/assessments/{assessment.public_id}/camera", status_code=303)


@router.get("/assessments/{assessment_id}/camera", response_class=HTMLResponse)
def camera(request: Request, state: State, db: Db, user: Clinician, assessment_id: str) -> HTMLResponse:
    """The owner opening the camera page takes it over from their older tab (whose frames get 409).

    Another user sees who holds the camera and takes it over only by confirming (audited).
    """
    assessment = _assessment_or_404(db, assessment_id)
    require_baby(db, user, assessment.baby)
    if assessment.owner_id not in (None, user.id):
        owner = db.get(User, assessment.owner_id)
        audit(db, user, "view", "assessment", assessment.public_id, subject=assessment.baby.public_id)
        db.commit()
        return page(request, state, "takeover.html", assessment=assessment, baby=assessment.baby,
                    owner=owner.username if owner else "another user")
    return _open_camera(request, state, db, user, assessment)


def _observe_context(state: State, db: Db, assessment: Assessment) -> dict[str, object]:
    """What the camera's Observe mode offers: the instruments (an NFCS model only) and the baseline."""
    try:
        version = state.predictor.nfcs_version()
    except ModelUnavailable:
        version = None
    settings = state.settings
    baseline = current_baseline(db, assessment.baby)
    return {
        "instruments": choices(version, settings.baseline_seconds, settings.observe_window_seconds),
        "baseline": baseline,
        "baseline_stale": baseline is not None and is_stale(baseline),
        "baseline_s": settings.observe_window_seconds or settings.baseline_seconds,
    }


def _open_camera(request: Request, state: State, db: Db, user: User, assessment: Assessment) -> HTMLResponse:
    assessment.owner_id = user.id
    assessment.client_token = opaque_id()
    audit(db, user, "view", "assessment", assessment.public_id, subject=assessment.baby.public_id)
    db.commit()
    return page(
        request,
        state,
        "camera.html",
        assessment=assessment,
        baby=assessment.baby,
        client_token=assessment.client_token,
        idle_ms=int(state.settings.session_idle_minutes * 60_000),
        tz=state.tz,
        **_observe_context(state, db, assessment),
    )


@router.post("/assessments/{assessment_id}/takeover", dependencies=[FormCsrf], response_class=HTMLResponse)
def take_over(request: Request, state: State, db: Db, user: Clinician, assessment_id: str) -> HTMLResponse:
    """Confirmed: this user's camera continues the assessment; the other user's camera stops."""
    assessment = _assessment_or_404(db, assessment_id)
    require_baby(db, user, assessment.baby)
    previous = db.get(User, assessment.owner_id) if assessment.owner_id else None
    audit(db, user, "take_over", "assessment", assessment.public_id, subject=assessment.baby.public_id,
          detail={"from": previous.username if previous else ""})
    return _open_camera(request, state, db, user, assessment)


@router.post(
    "/api/babies/search", dependencies=[HeaderCsrf], response_model=list[BabyPublic], responses=ERRORS
)
def baby_search(db: Db, user: Clinician, body: BabySearchIn) -> list[BabyPublic]:
    """Search as you type; POST so that no name ever appears in a URL or an access log.

    Each search is a read of names: audited with the babies it showed (ids only, never the query).
    """
    found = search_babies(db, body.q, user, limit=20)
    audit(db, user, "search", "baby_list", str(len(found)), detail={"babies": ",".join(b.public_id for b in found)})
    db.commit()
    return [BabyPublic(id=b.public_id, name=b.display_name, identifier=b.identifier, unit=b.unit.name)
            for b in found]


@router.post(
    "/api/assessments/{assessment_id}/frames",
    dependencies=[HeaderCsrf],
    response_model=FramePublic,
    responses=ERRORS,
)
def post_frame(
    state: State,
    db: Db,
    user: Clinician,
    assessment_id: str,
    frame: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    frame_id: Annotated[
        str, Form(pattern=FRAME_ID.pattern, description="client id of the frame; a retry reuses it")
    ],
    client_token: Annotated[str, Form(min_length=1, max_length=64)],
    observation_id: Annotated[
        str | None, Form(max_length=64, description="the observation window the frame feeds")
    ] = None,
    observation_t: Annotated[
        float | None, Form(ge=0, le=86_400, description="seconds from the window's start, camera's clock")
    ] = None,
) -> FramePublic:
    if not FRAME_ID.fullmatch(frame_id):  # also refuses a trailing newline, which '$' lets through
        raise HTTPException(422, "frame_id must be 8-64 letters, digits, '-' or '_'")
    assessment = _assessment_or_404(db, assessment_id)
    require_baby(db, user, assessment.baby)
    if assessment.owner_id not in (None, user.id):
        raise HTTPException(409, "another user took this assessment's camera over; this one has stopped")
    data = frame.file.read(state.settings.max_upload_bytes + 1)
    try:
        answer = process_frame(
            db,
            assessment=assessment,
            user=user,
            data=data,
            frame_id=frame_id,
            client_token=client_token,
            predictor=state.predictor,
            images=state.images,
            max_bytes=state.settings.max_upload_bytes,
            max_pixels=state.settings.max_upload_pixels,
        )
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except FrameConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except ModelUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    if observation_id:
        try:
            answer.observation = append_frame(db, assessment, observation_id, observation_t, answer)
        except ObservationError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
    return answer
