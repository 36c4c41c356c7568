"""What stays on disk and in logs: frames without EXIF (GPS, device, thumbnail) but upright; a SQLite file
only the app's user reads, with secure_delete; database errors without their parameters; input PostgreSQL
refuses answered 4xx; an explanation finishing after its baby was erased leaves no overlay behind."""

from __future__ import annotations

import io
import logging
import stat
import uuid

import numpy as np
import pytest
from _appkit import ScriptedPredictor, add_users, browser_for, post_frame, start_assessment
from conftest import make_settings
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from neopain.app.core.metadata import strip_metadata
from neopain.app.main import create_app
from neopain.app.models import Baby, Record, Unit
from neopain.pixels.imageio import decode_image

SECRET_NAME = "Hidden Parameter Baby"


def phone_photo(fmt: str) -> bytes:
    """A frame as a phone sends it: EXIF with GPS, maker, model, orientation 6; text metadata too."""
    pixels = np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    pixels[[0, 0, -1, -1], [0, -1, 0, -1]] = (230, 0, 0)  # 'pain' for the scripted predictor, upright or not
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0110] = 6, "PhoneMaker", "Model X"
    exif[0x8825] = {1: "N", 2: (10.0, 20.0, 30.0)}
    buffer = io.BytesIO()
    extra: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Author", "Nurse Ana")
        extra["pnginfo"] = info
    if fmt == "JPEG":
        extra["comment"] = b"ward 3 cot 7"
    image.save(buffer, fmt, **extra)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
def test_metadata_goes_and_pixels_and_orientation_stay(fmt: str, suffix: str) -> None:
    data = phone_photo(fmt)
    stripped = strip_metadata(data, suffix)
    for trace in (b"PhoneMaker", b"Model X", b"Nurse Ana", b"ward 3"):
        assert trace not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        exif = image.getexif()
        assert dict(exif) == {0x0112: 6} and not exif.get_ifd(0x8825)
    assert np.array_equal(decode_image(stripped), decode_image(data))  # upright, same pixels


def test_stored_frames_carry_no_gps_or_device(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Exif Baby")
    photo = phone_photo("JPEG")
    answer = post_frame(nurse, assessment, token, photo, uuid.uuid4().hex, name="f.jpg").json()
    assert answer["saved"]
    state = scripted_app.state.neopain
    with state.sessions() as db:
        name = db.scalar(select(Record.image_name).where(Record.public_id == answer["record_id"]))
    stored = state.images.read(name)
    assert b"PhoneMaker" not in stored and b"ward 3" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif().get_ifd(0x8825) and image.getexif().get(0x0112) == 6
    served = nurse.client.get(f"/records/{answer['record_id']}/image").content
    assert served == stored
    path = state.images.path_of(name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_sqlite_file_and_its_wal_are_private_and_deletes_are_secure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path), ScriptedPredictor())
    add_users(app)
    browser_for(app, "nurse")
    database = tmp_path / "app" / "neopain.db"
    for path in (database, database.with_name("neopain.db-wal")):
        assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with app.state.neopain.engine.connect() as connection:
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_database_errors_keep_their_parameters_out_of_the_log(db_url, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, db_url), ScriptedPredictor())
    with app.state.neopain.sessions() as db:
        unit = db.scalar(select(Unit.id))
        db.add(Baby(public_id="dup-id-1", display_name="First", unit_id=unit))
        db.commit()
        db.add(Baby(public_id="dup-id-1", display_name=SECRET_NAME, unit_id=unit))
        with pytest.raises(IntegrityError) as caught:
            db.commit()
        logging.getLogger("test").error("database error: %s", caught.value)
    assert SECRET_NAME not in str(caught.value) and SECRET_NAME not in caplog.text
    assert "parameters hidden" in str(caught.value)


def test_input_the_database_refuses_is_a_4xx(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    postgres = scripted_app.state.neopain.engine.dialect.name == "postgresql"
    for answer in (nurse.api("/api/babies/search", json={"q": "a\x00b"}), nurse.form("/history", {"q": "x\x00"})):
        # SQLite stores a NUL; PostgreSQL refuses it: a 422 that says so, never a 500.
        assert answer.status_code == (422 if postgres else 200), answer.text[:200]
    named = nurse.form("/assessments", {"new_name": "Baby\x00Zero"})
    assert named.status_code == 422 and "control character" in named.text


def test_an_explanation_finishing_after_the_erasure_leaves_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from neopain.app.core import explanations
    from neopain.app.core.storage import explanation_name

    app = create_app(make_settings(tmp_path), ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Erased While Explained")
    record = post_frame(nurse, assessment, token, phone_photo("JPEG"), uuid.uuid4().hex, name="f.jpg").json()
    state = app.state.neopain
    with state.sessions() as db:
        row = db.scalar(select(Record).where(Record.public_id == record["record_id"]))
        image, baby = row.image_name, row.baby
    from neopain.app.services.retention import delete_baby

    def slow_worker(checkpoint, frame, out, **_kwargs):  # type: ignore[no-untyped-def]
        with state.sessions() as db:  # the admin erases the baby while the worker computes
            delete_baby(db, state.images, db.merge(baby), None)
        out.write_bytes(explanations.PNG_MAGIC + b"overlay")
        return {"predicted": "pain", "probability": 0.9}

    monkeypatch.setattr("neopain.explain.explain_record", slow_worker)
    explainer = state.explainer
    monkeypatch.setattr(explainer, "checkpoint", tmp_path / "ckpt.pt", raising=False)
    with pytest.raises(explanations.ExplanationError, match="erased"):
        explainer._run(state.images.path_of(image), image)
    assert not state.images.path_of(explanation_name(image)).exists()
    assert state.images.names() == []


def test_names_and_rows_go_at_the_end_of_their_retention_period(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import update

    from neopain.app.main import housekeeping
    from neopain.app.models import Assessment, AuditEvent, utcnow

    app = create_app(make_settings(tmp_path, retention_rows_days=30), ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    for name in ("Old Stay Baby", "Recent Stay Baby"):
        assessment, token = start_assessment(nurse, name)
        post_frame(nurse, assessment, token, phone_photo("JPEG"), uuid.uuid4().hex, name="f.jpg")
    state = app.state.neopain
    old = utcnow() - timedelta(days=31)
    with state.sessions() as db:
        baby = db.scalar(select(Baby).where(Baby.display_name == "Old Stay Baby"))
        db.execute(update(Baby).where(Baby.id == baby.id).values(created_at=old))
        db.execute(update(Assessment).where(Assessment.baby_id == baby.id).values(started_at=old))
        db.execute(update(Record).where(Record.baby_id == baby.id).values(captured_at=old))
        db.commit()
        old_id = baby.public_id
    housekeeping(state)
    with state.sessions() as db:
        assert [b.display_name for b in db.scalars(select(Baby))] == ["Recent Stay Baby"]
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "purge", AuditEvent.object_id == old_id))
    assert len(state.images.names()) == 1
