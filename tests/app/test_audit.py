"""Audit and retention: every view, creation, correction, export, purge and deletion of a baby's data
leaves a row (who, what, when; opaque ids only), the admin reads and exports it as CSV, images are purged
after the retention period, and a baby's data is erased on request. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from _appkit import PASSWORD, audit_rows, browser_for, post_frame, scripted_frame, start_assessment
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from neopain.app.models import Assessment, Baby, Record, utcnow
from neopain.app.services.export import export_labelled
from neopain.app.services.retention import purge_images

NAME = "Quitéria Audit"


events = audit_rows


def baby_of(app, assessment: str) -> str:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return db.scalar(select(Assessment).where(Assessment.public_id == assessment)).baby.public_id


@pytest.fixture(scope="module")
def story(scripted_app, users):  # type: ignore[no-untyped-def]
    """A baby with two records, viewed, its image fetched, one record corrected, then exported."""
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, NAME)
    ids = [
        post_frame(nurse, assessment, token, scripted_frame(k), uuid.uuid4().hex).json()["record_id"]
        for k in ("pain", "no_pain")
    ]
    baby = baby_of(scripted_app, assessment)
    nurse.client.get(f"/babies/{baby}")
    nurse.client.get(f"/records/{ids[0]}")
    nurse.client.get(f"/records/{ids[0]}/image")
    nurse.client.get(f"/records/{ids[1]}/image?face=1")
    nurse.form(f"/records/{ids[0]}/confirm", {"label": "no_pain"})
    nurse.form(f"/records/{ids[1]}/confirm", {"label": "no_pain"})
    return {"assessment": assessment, "baby": baby, "records": ids}


def test_every_touch_of_the_data_is_audited_by_opaque_id(scripted_app, story, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = scripted_app.state.neopain
    with state.sessions() as db:
        export_labelled(db, state.images, tmp_path / "out")
    first, second = story["records"]
    expected = {
        ("create", "baby", story["baby"]),
        ("create", "assessment", story["assessment"]),
        ("create", "record", first),
        ("create", "record", second),
        ("view", "assessment", story["assessment"]),
        ("view", "baby", story["baby"]),
        ("view", "record", first),
        ("view", "image", first),
        ("view", "image_face", second),
        ("correct", "record", first),
        ("confirm", "record", second),
        ("export", "record", first),
        ("export", "record", second),
    }
    seen = {(e.action, e.object_type, e.object_id) for e in events(scripted_app)}
    assert expected <= seen, expected - seen
    for event in events(scripted_app):
        text = f"{event.username} {event.action} {event.object_type} {event.object_id}"
        assert "Quit" not in text and "Audit" not in text.split()[-1]
        assert event.at is not None and event.at <= utcnow()
    viewer = events(scripted_app, action="view", object_type="image", object_id=first)
    assert [e.username for e in viewer] == ["nurse1"]


def test_admin_exports_the_audit_as_csv(scripted_app, users, story) -> None:  # type: ignore[no-untyped-def]
    admin = users["admin"]
    response = admin.client.get("/admin/audit.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert (
        response.headers["cache-control"] == "no-store"
        and "attachment" in response.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["seq", "at_utc", "username", "action", "object_type", "object_id", "subject",
                             "client", "session", "detail", "row_hash"]
    assert any(r["object_id"] == story["records"][0] and r["action"] == "view" for r in rows)
    assert NAME not in response.text
    assert events(scripted_app, action="export", object_type="audit")[-1].username == "admin1"
    assert "/admin/audit.csv" in admin.client.get("/admin/audit").text


def test_csv_cells_cannot_become_formulas(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    from _appkit import CSRF_FIELD
    from fastapi.testclient import TestClient

    client = TestClient(scripted_app, base_url="http://localhost")
    token = CSRF_FIELD.search(client.get("/login").text).group(1)
    client.post("/login", data={"username": '=HYPERLINK("x")', "password": "whatever1", "csrf_token": token})
    admin = users["admin"]
    made = admin.form("/admin/users", {"username": "-1-1", "password": PASSWORD, "role": "nurse"})
    assert made.status_code == 303
    text = admin.client.get("/admin/audit.csv").text
    assert "'-1-1" in text and ",-1-1," not in text
    assert "HYPERLINK" not in text  # a typed user name is kept only as a keyed hash


def test_retention_purges_old_images_and_keeps_the_results(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Old Baby")
    old, recent = (
        post_frame(nurse, assessment, token, scripted_frame(k), uuid.uuid4().hex).json()["record_id"]
        for k in ("pain", "no_pain")
    )
    state = scripted_app.state.neopain
    with state.sessions() as db:
        db.execute(
            update(Record).where(Record.public_id == old).values(captured_at=utcnow() - timedelta(days=40))
        )
        db.commit()
        old_file = state.images.path_of(db.scalar(select(Record.image_name).where(Record.public_id == old)))
    assert old_file.is_file()
    assert purge_images(state.sessions, state.images, days=30) >= 1
    assert not old_file.exists()
    with state.sessions() as db:
        row = db.scalar(select(Record).where(Record.public_id == old))
        assert row.image_name is None and row.image_purged_at is not None and row.label == "pain"
        assert db.scalar(select(Record.image_name).where(Record.public_id == recent)) is not None
    assert nurse.client.get(f"/records/{old}/image").status_code == 410
    page = nurse.client.get(f"/records/{old}")
    assert page.status_code == 200 and "deleted at the end of the retention period" in page.text
    assert nurse.client.get(f"/records/{recent}/image").status_code == 200
    assert nurse.client.get(f"/babies/{baby_of(scripted_app, assessment)}").status_code == 200
    assert [e.username for e in events(scripted_app, action="purge", object_id=old)] == [""]  # the system
    assert purge_images(state.sessions, state.images, days=30) == 0  # idempotent


def test_admin_erases_a_baby_on_request(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse, admin = users["nurse"], users["admin"]
    assessment, token = start_assessment(nurse, "Erased Baby")
    record = post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).json()[
        "record_id"
    ]
    keep, keep_token = start_assessment(nurse, "Kept Baby")
    kept = post_frame(nurse, keep, keep_token, scripted_frame("pain"), uuid.uuid4().hex).json()["record_id"]
    baby = baby_of(scripted_app, assessment)
    state = scripted_app.state.neopain
    with state.sessions() as db:
        image = state.images.path_of(db.scalar(select(Record.image_name).where(Record.public_id == record)))
    assert admin.form("/admin/erase", {"baby_id": baby, "confirm": "typo"}).status_code == 422
    done = admin.form("/admin/erase", {"baby_id": baby, "confirm": baby})
    assert done.status_code == 200 and "1 records" in done.text and "Erased Baby" not in done.text
    assert not image.exists()
    with state.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Baby).where(Baby.public_id == baby)) == 0
        assert db.scalar(select(func.count()).select_from(Record).where(Record.public_id == record)) == 0
        assert (
            db.scalar(select(func.count()).select_from(Assessment).where(Assessment.public_id == assessment))
            == 0
        )
        assert db.scalar(select(func.count()).select_from(Record).where(Record.public_id == kept)) == 1
    (erasure,) = events(scripted_app, action="delete", object_type="baby", object_id=baby)
    assert erasure.username == "admin1"
    assert admin.form("/admin/erase", {"baby_id": baby, "confirm": baby}).status_code == 404
    assert nurse.client.get(f"/babies/{baby}").status_code == 404


def test_purge_command_and_purge_at_start(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from _appkit import ScriptedPredictor, add_users
    from conftest import make_settings

    import neopain.cli.serve  # noqa: F401
    from neopain.app.main import create_app
    from neopain.cli.apps import app as cli

    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEOPAIN_DB_URL", raising=False)
    app = create_app(make_settings(tmp_path), ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Purge Baby")
    for kind in ("pain", "no_pain", "pain"):
        post_frame(nurse, assessment, token, scripted_frame(kind), uuid.uuid4().hex)
    state = app.state.neopain
    with state.sessions() as db:
        first, second, _third = db.scalars(select(Record.id).order_by(Record.id))
        db.execute(update(Record).where(Record.id == first).values(captured_at=utcnow() - timedelta(days=10)))
        db.execute(update(Record).where(Record.id == second).values(captured_at=utcnow() - timedelta(days=3)))
        db.commit()
    runner = CliRunner()
    assert "no retention period" in runner.invoke(cli, ["db", "purge"]).output
    result = runner.invoke(cli, ["db", "purge", "--days", "7"])
    assert result.exit_code == 0 and "purged 1 images" in result.output
    create_app(make_settings(tmp_path, retention_days=2), ScriptedPredictor())  # the purge at start
    with state.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Record).where(Record.image_name.is_(None))) == 2
    assert len(state.images.names()) == 1


def test_the_server_purges_periodically_while_serving(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    from _appkit import ScriptedPredictor, add_users
    from conftest import make_settings
    from fastapi.testclient import TestClient

    from neopain.app.main import create_app

    settings = make_settings(tmp_path, retention_days=1, purge_every_minutes=0.002)  # every 0.12 s
    app = create_app(settings, ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Periodic Baby")
    post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex)
    state = app.state.neopain
    with state.sessions() as db:
        db.execute(update(Record).values(captured_at=utcnow() - timedelta(days=2)))
        db.commit()
    with TestClient(app):  # runs the app's lifespan, as uvicorn does
        deadline = time.monotonic() + 10
        while state.images.names() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert state.images.names() == []
    assert len(events(app, action="purge")) == 1


def test_opaque_ids_never_start_like_a_spreadsheet_formula(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from neopain.app.models import base

    drawn = iter(["-formulaLike", "_underscore", "Abc123-_x"])
    monkeypatch.setattr(base.secrets, "token_urlsafe", lambda n: next(drawn))
    assert base.opaque_id() == "Abc123-_x"  # the audit CSV then never quotes an id it exports
