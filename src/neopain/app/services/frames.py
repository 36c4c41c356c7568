"""One camera frame: check it, assess it, apply the saving rule, store image and record atomically."""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from neopain.app.core.audit import audit
from neopain.app.core.inference import AssessmentLike, PredictorHolder
from neopain.app.core.metadata import MetadataError, strip_metadata
from neopain.app.core.saving import should_save
from neopain.app.core.storage import ImageStore
from neopain.app.core.uploads import UploadError, check_frame
from neopain.app.models import Assessment, Record, User
from neopain.app.schemas import FramePublic, nfcs_public
from neopain.pixels.imageio import ImageError

# Frames of one assessment are serialised so the saving rule sees them in order; rows are also locked
# (SELECT ... FOR UPDATE) so several server processes on PostgreSQL agree.
_assessment_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


# How many unsaved frame ids an assessment remembers: at 2 frames/s, a retry within 30 s finds its frame.
UNSAVED_KEPT = 64
# The answers this process gave to frames it did not save, so that a phone's retry of one is answered
# without assessing the frame again (a tenth of a camera's frames are retries). Another process, or one
# restarted since, assesses the retry again and the saving rule still counts it once.
ANSWERS_KEPT = 4096
_unsaved_answers: OrderedDict[tuple[int, str], FramePublic] = OrderedDict()


class FrameConflict(Exception):
    """409: the assessment is now open in another tab, or the frame id belongs elsewhere."""


def _lock_for(assessment_id: int) -> threading.Lock:
    with _locks_guard:
        return _assessment_locks[assessment_id]


def _box(result: AssessmentLike) -> list[float] | None:
    if result.box is None:
        return None
    return [float(v) for v in list(result.box)[:4]]


def _public(frame_id: str, result: AssessmentLike, record: Record | None) -> FramePublic:
    ok = result.status == "ok"
    return FramePublic(
        frame_id=frame_id,
        status=result.status,  # type: ignore[arg-type]
        reason=result.reason,
        label=result.label if ok else None,  # type: ignore[arg-type]
        probability=result.probability if ok else None,
        confidence=result.confidence if ok else None,
        processing_ms=float(result.timings_ms.get("total", 0.0)),
        model_id=result.model_id,
        box=_box(result) if ok else None,
        saved=record is not None,
        record_id=record.public_id if record else None,
        nfcs=nfcs_public(_reading(result)) if ok else None,
    )


def _reading(result: AssessmentLike) -> dict | None:
    """An NFCS model's reading as plain JSON (a pain-only predictor's assessments have none)."""
    reading = getattr(result, "nfcs", None)
    return None if reading is None else reading.to_dict()


def replay_of(record: Record) -> FramePublic:
    """The answer a retried frame gets: the record as saved the first time."""
    return FramePublic(
        frame_id=record.client_frame_id,
        status="ok",
        label=record.label,  # type: ignore[arg-type]
        probability=record.p_pain,
        confidence=record.confidence,
        processing_ms=record.processing_ms,
        model_id=record.model_id,
        box=record.box,
        saved=True,
        record_id=record.public_id,
        replay=True,
        nfcs=nfcs_public(record.nfcs_model),
    )


def existing_frame(db: Session, frame_id: str) -> Record | None:
    return db.scalar(select(Record).where(Record.client_frame_id == frame_id))


def process_frame(
    db: Session,
    *,
    assessment: Assessment,
    user: User,
    data: bytes,
    frame_id: str,
    client_token: str,
    predictor: PredictorHolder,
    images: ImageStore,
    max_bytes: int,
    max_pixels: int,
) -> FramePublic:
    suffix, _media = check_frame(data, max_bytes, max_pixels)
    try:
        # Without EXIF, XMP or comments (GPS, device, a thumbnail): the pixels and orientation the model
        # reads are the ones stored.
        data = strip_metadata(data, suffix)
    except MetadataError as exc:
        raise UploadError(422, "the frame cannot be read as an image") from exc
    earlier = existing_frame(db, frame_id)
    if earlier is not None:
        if earlier.assessment_id != assessment.id:
            raise FrameConflict("this frame id was already used in another assessment")
        return replay_of(earlier)
    if client_token != assessment.client_token:
        raise FrameConflict("this assessment continues in another tab or window; this one has stopped")
    answered = _answer_given(assessment.id, frame_id)
    if answered is not None:
        return answered
    try:
        result = predictor.assess(data, stream=f"assessment-{assessment.id}")
    except ImageError as exc:
        raise UploadError(422, "the frame cannot be decoded as an image") from exc
    with _lock_for(assessment.id):
        return _apply_saving_rule(db, assessment.id, user, data, suffix, frame_id, result, images)


def _answer_given(assessment_id: int, frame_id: str) -> FramePublic | None:
    """The "not saved" answer this process gave to this frame, as a retry gets it (None: not given here)."""
    with _locks_guard:
        answer = _unsaved_answers.get((assessment_id, frame_id))
    return None if answer is None else answer.model_copy(update={"replay": True})


def _remember_answer(assessment_id: int, answer: FramePublic) -> None:
    with _locks_guard:
        # A copy: the route adds the observation's progress to the answer it returns, not to this one.
        _unsaved_answers[(assessment_id, answer.frame_id)] = answer.model_copy()
        while len(_unsaved_answers) > ANSWERS_KEPT:
            _unsaved_answers.popitem(last=False)


def _apply_saving_rule(
    db: Session,
    assessment_id: int,
    user: User,
    data: bytes,
    suffix: str,
    frame_id: str,
    result: AssessmentLike,
    images: ImageStore,
) -> FramePublic:
    db.expire_all()
    locked = db.scalars(
        select(Assessment)
        .where(Assessment.id == assessment_id)
        .options(lazyload(Assessment.baby))
        .with_for_update()
    ).one()
    earlier = existing_frame(db, frame_id)  # a concurrent retry may have won the race
    if earlier is not None:
        db.rollback()
        return replay_of(earlier)
    unsaved = list(locked.unsaved_frames or [])
    if frame_id in unsaved:
        db.rollback()
        # Counted and answered once already: the retry gets this reading, still not saved.
        return _public(frame_id, result, None).model_copy(update={"replay": True})
    locked.frames_seen += 1
    label = result.label if result.status == "ok" else None
    record = None
    if label is not None:
        locked.faces_seen += 1
    if should_save(locked.last_saved_label, label):
        record = _new_record(locked, data, suffix, frame_id, result, images)
        db.add(record)
        locked.last_saved_label = label
        audit(db, user, "create", "record", record.public_id, subject=locked.baby.public_id)
    else:
        locked.unsaved_frames = [*unsaved, frame_id][-UNSAVED_KEPT:]
    try:
        db.flush()
        answer = _public(frame_id, result, record)
        db.commit()
        if record is None:
            _remember_answer(assessment_id, answer)
    except IntegrityError:
        # Same frame id committed by another process in between: drop our file, answer with theirs.
        db.rollback()
        if record is not None:
            images.delete(record.image_name)
        earlier = existing_frame(db, frame_id)
        if earlier is None:
            raise
        return replay_of(earlier)
    except BaseException:
        db.rollback()
        if record is not None:
            images.delete(record.image_name)
        raise
    return answer


def _new_record(
    assessment: Assessment,
    data: bytes,
    suffix: str,
    frame_id: str,
    result: AssessmentLike,
    images: ImageStore,
) -> Record:
    from neopain.app.models import opaque_id

    # The file is complete on disk before the row exists; a crash in between leaves an orphan file
    # (quarantined at a later start), never a row without its image.
    name = images.write(data, suffix)
    return Record(
        public_id=opaque_id(),
        baby_id=assessment.baby_id,
        assessment_id=assessment.id,
        image_name=name,
        label=result.label,
        confidence=float(result.confidence),
        p_pain=float(result.probability),
        box=_box(result),
        processing_ms=float(result.timings_ms.get("total", 0.0)),
        model_id=result.model_id,
        client_frame_id=frame_id,
        nfcs_model=_reading(result),
    )
