"""A saved record: its page, its image (authenticated, never cached) and its confirmation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from neopain.app.api.deps import AppState, Clinician, Db, FormCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.storage import ImageStoreError
from neopain.app.models import Record, User, utcnow
from neopain.app.services.access import require_baby
from neopain.scales.nfcs import ACTIONS, LABELS

router = APIRouter(tags=["records"])
MEDIA = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def record_for(db: Db, user: User, public_id: str) -> Record:
    """The record, if it exists (404) and its baby is one the user may open (OutsideUnit otherwise)."""
    record = db.scalar(select(Record).where(Record.public_id == public_id))
    if record is None:
        raise HTTPException(404, "no such record")
    require_baby(db, user, record.baby)
    return record


def render_record(request: Request, state: AppState, record: Record, **extra: Any) -> HTMLResponse:
    """The record page; ``extra`` adds messages (e.g. why an explanation failed)."""
    explainer = state.explainer
    return page(
        request,
        state,
        "record.html",
        record=record,
        baby=record.baby,
        actions=ACTIONS,
        size=state.images.size_of(record.image_name),
        labels=LABELS,
        tz=state.tz,
        saved=request.query_params.get("saved") == "1",
        explained=request.query_params.get("explained"),
        explain_available=explainer.available,
        explain_reason=explainer.unavailable_reason,
        explanation=explainer.overlay_of(record.image_name) is not None,
        **extra,
    )


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, state: State, db: Db, user: Clinician, record_id: str) -> HTMLResponse:
    record = record_for(db, user, record_id)
    audit(db, user, "view", "record", record.public_id, subject=record.baby.public_id)
    db.commit()
    return render_record(request, state, record)


def face_thumbnail(data: bytes, box: list[float], margin: float = 0.25, size: int = 160) -> bytes | None:
    """The face region (box plus a margin) as a small JPEG, for the profile's thumbnails."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    x, y, w, h = box[:4]
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    x1, y1 = min(int(cx + side / 2), image.shape[1]), min(int(cy + side / 2), image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes() if ok else None


@router.get(
    "/records/{record_id}/image",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
        404: {"description": "no such record, or its file is missing"},
        410: {"description": "the image was purged at the end of the retention period"},
    },
)
def record_image(
    state: State,
    db: Db,
    user: Clinician,
    record_id: str,
    face: Annotated[bool, Query(description="only the face, as a small thumbnail")] = False,
) -> Response:
    record = record_for(db, user, record_id)
    if record.image_name is None:
        raise HTTPException(410, "the image was deleted at the end of the retention period")
    try:
        data = state.images.read(record.image_name)
    except ImageStoreError as exc:
        raise HTTPException(404, "the image of this record is missing") from exc
    # Every fetch is a view of a baby's face: audited one by one (thumbnails included).
    audit(db, user, "view", "image_face" if face else "image", record.public_id, subject=record.baby.public_id)
    db.commit()
    media = MEDIA.get(record.image_name.rsplit(".", 1)[-1], "application/octet-stream")
    if face and record.box:
        thumbnail = face_thumbnail(data, record.box)
        if thumbnail is not None:
            data, media = thumbnail, "image/jpeg"
    return Response(
        data, media_type=media, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )


@router.post("/records/{record_id}/confirm", dependencies=[FormCsrf])
def confirm(
    db: Db,
    user: Clinician,
    record_id: str,
    label: Annotated[Literal[LABELS], Form()],  # type: ignore[valid-type]
    actions: Annotated[list[Literal[ACTIONS]] | None, Form()] = None,  # type: ignore[valid-type]
    nfcs_coded: Annotated[bool, Form()] = False,
) -> Response:
    """A clinician confirms (same label) or corrects (other label) the model; NFCS actions optional."""
    record = record_for(db, user, record_id)
    if label not in LABELS:
        raise HTTPException(422, f"label must be one of {', '.join(LABELS)}")
    chosen = sorted(set(actions or []))
    unknown = [a for a in chosen if a not in ACTIONS]
    if unknown:
        raise HTTPException(422, f"unknown NFCS action: {unknown[0]}")
    before = {"label": record.effective_label, "actions": record.nfcs_actions}
    record.confirmed_label = label
    # Coded when the clinician ticked an action or said she looked at all of them (none present is a
    # finding too); otherwise the actions stay unknown, never "absent".
    coded = bool(chosen) or nfcs_coded
    record.nfcs_actions = chosen if coded else None
    record.nfcs_coded = list(ACTIONS) if coded else None
    record.confirmed_by = user.id
    record.confirmed_at = utcnow()
    # A label change keeps the old and the new value: the audit can replay what the record said when.
    change = {"old_label": before["label"], "new_label": label, "model_label": record.label,
              "old_actions": ",".join(before["actions"] or []) if before["actions"] is not None else None,
              "new_actions": ",".join(record.nfcs_actions) if record.nfcs_actions is not None else None}
    audit(db, user, "confirm" if label == record.label else "correct", "record", record.public_id,
          subject=record.baby.public_id, detail=change)
    db.commit()
    return RedirectResponse(f"/records/{record.public_id}?saved=1", status_code=303)
