"""Evidence per NFCS action on a record's face: the regions whose blurring lowers the action most,
computed on demand by the served model in ONNX Runtime (no torch, a handful of forward passes)."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from neopain.app.api.deps import Clinician, Db, State
from neopain.app.api.routes.records import record_for
from neopain.app.core.audit import audit
from neopain.app.core.inference import ModelUnavailable
from neopain.app.core.storage import ImageStoreError
from neopain.pixels.imageio import ImageError, decode_image
from neopain.scales.nfcs import ACTIONS

router = APIRouter(tags=["records"])


def _served_nfcs_model(state, record):  # type: ignore[no-untyped-def]
    """The served predictor when it is an NFCS model and the one that made ``record``; 409 otherwise."""
    try:
        predictor = state.predictor.get()
    except ModelUnavailable as exc:
        raise HTTPException(409, f"no model is served: {exc}") from exc
    classifier = getattr(predictor, "classifier", None)
    if classifier is None or not classifier.has_actions:
        raise HTTPException(409, "the served model codes no NFCS actions (trained with --targets pain)")
    if predictor.model_id != record.model_id:
        raise HTTPException(409, "the served model is not the one that assessed this picture")
    return predictor


@router.get(
    "/records/{record_id}/evidence/{action}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        404: {"description": "no such record or action, or no face found in the picture"},
        409: {"description": "the served model codes no NFCS actions, or did not make this record"},
        410: {"description": "the image was purged at the end of the retention period"},
    },
)
def evidence_image(state: State, db: Db, user: Clinician, record_id: str, action: str) -> Response:
    """The face with the regions that support ``action`` tinted (occlusion); audited, never cached."""
    from neopain.inference import evidence_overlay, frame_evidence

    record = record_for(db, user, record_id)
    if action not in ACTIONS:
        raise HTTPException(404, "no such NFCS action")
    if record.image_name is None:
        raise HTTPException(410, "the image was deleted at the end of the retention period")
    predictor = _served_nfcs_model(state, record)
    try:
        image = decode_image(state.images.read(record.image_name))
    except (ImageStoreError, ImageError) as exc:
        raise HTTPException(404, "the picture cannot be read") from exc
    with state.predictor.run_lock:  # the detector keeps state: one frame at a time
        found = frame_evidence(predictor, image)
    if found is None:
        raise HTTPException(404, "no face found in the picture")
    picture = evidence_overlay(found.crop, found.masks, found.evidence, action)
    audit(db, user, "view", "image_evidence", record.public_id, subject=record.baby.public_id)
    db.commit()
    png = cv2.imencode(".png", np.ascontiguousarray(picture))[1].tobytes()
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
