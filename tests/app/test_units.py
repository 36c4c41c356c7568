"""Who sees which baby: units scope every list, search, page and picture; another unit's baby only by
break-glass (a typed reason, audited, reviewed); a second identifier tells babies of one name apart; a
camera changes hands only when the other user confirms."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from _appkit import PASSWORD, ScriptedPredictor, add_user, browser_for, post_frame, scripted_frame
from conftest import make_settings
from sqlalchemy import select, update
from typer.testing import CliRunner

import neopain.cli.accounts  # noqa: F401  (registers the commands)
from neopain.app.main import create_app
from neopain.app.models import AuditEvent, Baby, BreakGlass, Unit, User, utcnow
from neopain.app.services.access import create_unit
from neopain.app.services.users import set_units
from neopain.cli.apps import app as cli

NAME = "Maria Clara Unit"


@pytest.fixture(scope="module")
def ward(db_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Units A and B; nurse_a in A, nurse_b in B, nurse_ab in both, an admin; a baby of unit A with a record."""
    app = create_app(make_settings(tmp_path_factory.mktemp("units"), db_url), ScriptedPredictor())
    with app.state.neopain.sessions() as db:
        unit_a, unit_b = create_unit(db, "NICU A"), create_unit(db, "NICU B")
        db.commit()
        ids = {"a": unit_a.id, "b": unit_b.id}
    for name, units in (("nurse_a", ["a"]), ("nurse_b", ["b"]), ("nurse_ab", ["a", "b"]), ("nurse_a2", ["a"])):
        add_user(app, name, "nurse")
        with app.state.neopain.sessions() as db:
            user = db.scalar(select(User).where(User.username == name))
            set_units(db, user, [db.get(Unit, ids[u]) for u in units])
            db.commit()
    add_user(app, "admin1", "admin")
    browsers = {n: browser_for(app, "nurse", n) for n in ("nurse_a", "nurse_b", "nurse_ab", "nurse_a2")}
    browsers["admin"] = browser_for(app, "admin", "admin1")
    nurse = browsers["nurse_a"]
    started = nurse.form("/assessments", {"new_name": NAME, "identifier": "Bed 3", "unit_id": str(ids["a"])})
    assert started.status_code == 303, started.text
    assessment = started.headers["location"].split("/")[2]
    token = nurse.client.get(started.headers["location"]).text.split('data-client-token="')[1].split('"')[0]
    record = post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).json()["record_id"]
    with app.state.neopain.sessions() as db:
        baby = db.scalar(select(Baby).where(Baby.display_name == NAME)).public_id
    return {"app": app, "b": browsers, "baby": baby, "record": record, "assessment": assessment, "token": token,
            "units": ids}


def test_another_units_nurse_finds_nothing_and_opens_nothing(ward) -> None:  # type: ignore[no-untyped-def]
    outsider, baby, record = ward["b"]["nurse_b"], ward["baby"], ward["record"]
    assert NAME not in outsider.client.get("/history").text
    assert outsider.api("/api/babies/search", json={"q": "Maria"}).json() == []
    assert NAME not in outsider.client.get("/assessments/new").text
    for url in (f"/babies/{baby}", f"/records/{record}", f"/records/{record}/image",
                f"/assessments/{ward['assessment']}/camera"):
        refused = outsider.client.get(url)
        assert refused.status_code == 403 and NAME not in refused.text and "break the glass" in refused.text, url
    frame = post_frame(outsider, ward["assessment"], ward["token"], scripted_frame("pain"), uuid.uuid4().hex)
    assert frame.status_code == 403
    assert outsider.form("/assessments", {"baby_id": baby}).status_code == 403
    both = ward["b"]["nurse_ab"]
    assert both.client.get(f"/babies/{baby}").status_code == 200
    assert [b["name"] for b in both.api("/api/babies/search", json={"q": "Maria"}).json()] == [NAME]


def test_break_glass_needs_a_reason_is_audited_reviewed_and_expires(ward) -> None:  # type: ignore[no-untyped-def]
    app, outsider, baby = ward["app"], ward["b"]["nurse_b"], ward["baby"]
    short = outsider.form(f"/babies/{baby}/break-glass", {"reason": "need"})
    assert short.status_code == 422 and "at least 10" in short.text
    opened = outsider.form(f"/babies/{baby}/break-glass", {"reason": "Transferred to us at 3 am, on call"})
    assert opened.status_code == 303 and opened.headers["location"] == f"/babies/{baby}"
    assert outsider.client.get(f"/babies/{baby}").status_code == 200
    assert outsider.client.get(f"/records/{ward['record']}").status_code == 200
    assert outsider.api("/api/babies/search", json={"q": "Maria"}).json() == []  # one baby, never a list
    with app.state.neopain.sessions() as db:
        row = db.scalars(select(AuditEvent).where(AuditEvent.action == "break_glass")).one()
        entry = db.scalars(select(BreakGlass)).one()
    assert row.username == "nurse_b" and row.subject == baby and "Transferred" not in str(row.detail)
    admin = ward["b"]["admin"]
    review = admin.client.get("/admin/break-glass")
    assert "Transferred to us at 3 am" in review.text and baby in review.text and NAME not in review.text
    assert admin.form(f"/admin/break-glass/{entry.id}/review").status_code == 303
    assert "Transferred" not in admin.client.get("/admin/break-glass").text
    with app.state.neopain.sessions() as db:
        db.execute(update(BreakGlass).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.commit()
    assert outsider.client.get(f"/babies/{baby}").status_code == 403


def test_two_babies_of_one_name_are_told_apart_by_their_bed_or_record_number(ward) -> None:  # type: ignore[no-untyped-def]
    nurse = ward["b"]["nurse_a"]
    missing = nurse.form("/assessments", {"new_name": NAME, "unit_id": str(ward["units"]["a"])})
    assert missing.status_code == 422 and "bed or record number" in missing.text
    twin = nurse.form("/assessments", {"new_name": NAME, "identifier": "MRN 55-1", "unit_id": str(ward["units"]["a"])})
    assert twin.status_code == 303 and "MRN" not in twin.headers["location"]
    found = nurse.api("/api/babies/search", json={"q": NAME}).json()
    assert sorted(b["identifier"] for b in found) == ["Bed 3", "MRN 55-1"]
    assert "Bed 3" in nurse.client.get("/history").text and "MRN 55-1" in nurse.client.get("/history").text
    assert [b["identifier"] for b in nurse.api("/api/babies/search", json={"q": "55-1"}).json()] == ["MRN 55-1"]
    with ward["app"].state.neopain.sessions() as db:
        trail = " ".join(f"{e.object_id} {e.detail}" for e in db.scalars(select(AuditEvent)))
    assert "MRN 55-1" not in trail and "Bed 3" not in trail
    other_unit = nurse.form("/assessments", {"new_name": "X Baby", "identifier": "1",
                                             "unit_id": str(ward["units"]["b"])})
    assert other_unit.status_code == 422 and "your own units" in other_unit.text


def test_a_camera_changes_hands_only_when_the_other_user_confirms(ward) -> None:  # type: ignore[no-untyped-def]
    owner, colleague, app = ward["b"]["nurse_a"], ward["b"]["nurse_a2"], ward["app"]
    started = owner.form("/assessments", {"baby_id": ward["baby"]})
    assessment = started.headers["location"].split("/")[2]
    token = owner.client.get(started.headers["location"]).text.split('data-client-token="')[1].split('"')[0]
    shown = colleague.client.get(f"/assessments/{assessment}/camera")
    assert shown.status_code == 200 and "belongs to <strong>nurse_a</strong>" in shown.text
    assert post_frame(owner, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).status_code == 200
    refused = post_frame(colleague, assessment, token, scripted_frame("pain"), uuid.uuid4().hex)
    assert refused.status_code == 409
    taken = colleague.form(f"/assessments/{assessment}/takeover")
    assert taken.status_code == 200 and "data-client-token" in taken.text
    new_token = taken.text.split('data-client-token="')[1].split('"')[0]
    assert post_frame(owner, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).status_code == 409
    assert post_frame(colleague, assessment, new_token, scripted_frame("no_pain"), uuid.uuid4().hex).status_code == 200
    with app.state.neopain.sessions() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "take_over")).one()
    assert event.username == "nurse_a2" and event.detail == {"from": "nurse_a"}


def test_admins_place_clinicians_in_units_from_the_page_and_the_command_line(ward, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, admin = ward["app"], ward["b"]["admin"]
    assert admin.form("/admin/units", {"name": "Step-down"}).status_code == 303
    assert admin.form("/admin/units", {"name": "Step-down"}).status_code == 422
    with app.state.neopain.sessions() as db:
        step = db.scalar(select(Unit).where(Unit.name == "Step-down"))
        nurse_b = db.scalar(select(User).where(User.username == "nurse_b"))
    assert admin.form(f"/admin/users/{nurse_b.id}/units", {"unit": [str(step.id)]}).status_code == 303
    assert ward["b"]["nurse_b"].client.get("/history").status_code == 200
    assert "Step-down" in admin.client.get("/admin/units").text
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEOPAIN_DB_URL", raising=False)
    monkeypatch.setenv("NEOPAIN_NEW_PASSWORD", PASSWORD)
    runner = CliRunner()
    assert runner.invoke(cli, ["units", "create", "NICU C"]).exit_code == 0
    made = runner.invoke(cli, ["users", "create", "--username", "carla", "--unit", "NICU C"])
    assert made.exit_code == 0, made.output
    assert "NICU C\tcarla" in runner.invoke(cli, ["units", "list"]).output
    moved = runner.invoke(cli, ["users", "set-units", "carla", "Main unit", "NICU C"])
    assert moved.exit_code == 0, moved.output
    unknown = runner.invoke(cli, ["users", "set-units", "carla", "Nowhere"])
    assert unknown.exit_code == 2 and "no unit named 'Nowhere'" in unknown.output
