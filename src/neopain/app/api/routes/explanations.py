"""'Explain this decision': an Integrated-Gradients overlay of a record's face, and the overlay itself."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from neopain.app.api.deps import Clinician, Db, FormCsrf, State
from neopain.app.api.routes.records import record_for, render_record
from neopain.app.core.audit import audit
from neopain.app.core.explanations import ExplanationError
from neopain.app.core.storage import ImageStoreError

router = APIRouter(tags=["records"])


# A plain ``def``: FastAPI runs it in a worker thread, so the minutes a worker may take never block the
# event loop; the explainer runs one explanation at a time and answers "busy" to the others.
@router.post(
    "/records/{record_id}/explain",
    dependencies=[FormCsrf],
    response_class=HTMLResponse,
    responses={200: {"description": "the record page saying why no explanation was made"}},
)
def explain(request: Request, state: State, db: Db, user: Clinician, record_id: str) -> Response:
    """Explain the model's decision on this record's face (Integrated Gradients, in a worker process)."""
    record = record_for(db, user, record_id)
    public_id, image_name, label = record.public_id, record.image_name, record.label
    audit(db, user, "explain", "record", public_id, subject=record.baby.public_id)
    db.commit()  # also ends the read transaction: nothing stays open while the worker runs
    try:
        done = state.explainer.explain(image_name)
    except ExplanationError as exc:
        return render_record(request, state, record_for(db, user, public_id), explain_error=str(exc))
    outcome = "1" if done.predicted == label else "differs"
    return RedirectResponse(f"/records/{public_id}?explained={outcome}", status_code=303)


@router.get(
    "/records/{record_id}/explanation",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        404: {"description": "no such record, or it has not been explained"},
        410: {"description": "the image was purged at the end of the retention period"},
    },
)
def explanation_image(state: State, db: Db, user: Clinician, record_id: str) -> Response:
    """The record's explanation overlay (a PNG of the face): login and role checked, audited, never cached."""
    record = record_for(db, user, record_id)
    if record.image_name is None:
        raise HTTPException(410, "the image was deleted at the end of the retention period")
    name = state.explainer.overlay_of(record.image_name)
    try:
        data = state.images.read(name)
    except ImageStoreError as exc:
        raise HTTPException(404, "this record has not been explained") from exc
    audit(db, user, "view", "image_explanation", record.public_id, subject=record.baby.public_id)
    db.commit()
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
