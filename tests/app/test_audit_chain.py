"""The audit a hospital can trust: append-only, hash-chained, verified; every read of names audited; each row
says from where and in which session; a label change keeps both values; the admin pages through all rows
and asks who opened a baby. Runs on SQLite and on the PostgreSQL server the suite starts."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest
from _appkit import CSRF_FIELD, audit_rows, post_frame, scripted_frame, start_assessment
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

import neopain.cli.accounts  # noqa: F401  (registers the commands)
from neopain.app.core.audit import GENESIS, account_ref, audit
from neopain.app.models import AuditEvent, utcnow
from neopain.app.services.audit_chain import verify_chain
from neopain.cli.apps import app as cli

NAME = "Chain Baby Zé"


rows = audit_rows


def chain_report(app):  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return verify_chain(db)


@pytest.fixture(scope="module")
def visit(scripted_app, users):  # type: ignore[no-untyped-def]
    """A nurse's visit: start, a saved frame, the record page, a correction."""
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, NAME)
    record = post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).json()["record_id"]
    baby = nurse.api("/api/babies/search", json={"q": "Chain Baby"}).json()[0]["id"]
    assert nurse.client.get(f"/records/{record}").status_code == 200
    assert nurse.form(f"/records/{record}/confirm", {"label": "no_pain"}).status_code == 303
    return {"assessment": assessment, "record": record, "baby": baby}


def test_the_chain_verifies_and_every_row_links_to_the_one_before(scripted_app, visit) -> None:  # type: ignore[no-untyped-def]
    report = chain_report(scripted_app)
    assert report.ok, report.problem
    trail = rows(scripted_app)
    assert [r.seq for r in trail] == list(range(1, len(trail) + 1))
    assert trail[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(trail))
    assert report.head_seq == len(trail) and report.head_hash == trail[-1].row_hash


def test_the_database_refuses_to_change_or_delete_audit_rows(scripted_app, visit) -> None:  # type: ignore[no-untyped-def]
    engine = scripted_app.state.neopain.engine
    for statement in (update(AuditEvent).values(action="nothing"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(statement)
    assert chain_report(scripted_app).ok


def test_a_rolled_back_change_leaves_no_audit_row(scripted_app, visit) -> None:  # type: ignore[no-untyped-def]
    before = len(rows(scripted_app))
    with scripted_app.state.neopain.sessions() as db:
        audit(db, None, "view", "record", "rolled-back")
        db.rollback()
        db.commit()
    assert len(rows(scripted_app)) == before and not rows(scripted_app, object_id="rolled-back")


def test_concurrent_writers_never_fork_the_chain(scripted_app, visit) -> None:  # type: ignore[no-untyped-def]
    factory = scripted_app.state.neopain.sessions
    before = len(rows(scripted_app))
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with factory() as db:
                    audit(db, None, "view", "record", f"w{n}-{i}")
                    audit(db, None, "view", "image", f"w{n}-{i}")
                    db.commit()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(rows(scripted_app)) == before + 120
    assert chain_report(scripted_app).ok


def test_rows_say_where_from_which_session_and_which_baby(scripted_app, visit) -> None:  # type: ignore[no-untyped-def]
    viewed = rows(scripted_app, action="view", object_type="record", object_id=visit["record"])[-1]
    assert viewed.client == "testclient" and viewed.session_ref.isdigit()
    assert viewed.subject == visit["baby"] and viewed.username == "nurse1"
    login = [r for r in rows(scripted_app, action="login") if r.session_ref == viewed.session_ref]
    assert len(login) == 1 and login[0].object_id == viewed.session_ref


def test_a_label_change_keeps_the_old_and_the_new_value(scripted_app, users, visit) -> None:  # type: ignore[no-untyped-def]
    corrected = rows(scripted_app, action="correct", object_id=visit["record"])[-1]
    assert corrected.detail["old_label"] == "pain" and corrected.detail["new_label"] == "no_pain"
    nurse = users["nurse"]
    assert nurse.form(f"/records/{visit['record']}/confirm", {"label": "pain"}).status_code == 303
    back = rows(scripted_app, action="confirm", object_id=visit["record"])[-1]
    assert (back.detail["old_label"], back.detail["new_label"]) == ("no_pain", "pain")


def test_every_read_of_names_is_audited(scripted_app, users, visit) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    searches = len(rows(scripted_app, action="search"))
    assert nurse.api("/api/babies/search", json={"q": "Chain"}).status_code == 200
    found = rows(scripted_app, action="search")
    assert len(found) == searches + 1 and visit["baby"] in found[-1].detail["babies"]
    views = len(rows(scripted_app, action="view", object_type="baby_list"))
    assert nurse.client.get("/assessments/new").status_code == 200
    assert len(rows(scripted_app, action="view", object_type="baby_list")) == views + 1
    assert all("Chain" not in str(r.detail) and NAME not in r.object_id for r in rows(scripted_app))


def test_a_failed_login_keeps_only_a_keyed_hash_of_what_was_typed(scripted_app, visit) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(scripted_app, base_url="http://localhost")
    token = CSRF_FIELD.search(client.get("/login").text).group(1)
    typed = "MySecretPassw0rd!"  # a password typed into the user-name box
    client.post("/login", data={"username": typed, "password": "x", "csrf_token": token})
    failed = rows(scripted_app, action="login_failed")[-1]
    assert failed.object_id == account_ref(scripted_app.state.neopain.secret, typed)
    assert all(typed not in (r.object_id + str(r.detail)) for r in rows(scripted_app))


def test_the_admin_pages_through_every_row_and_asks_who_opened_a_baby(scripted_app, users, visit) -> None:  # type: ignore[no-untyped-def]
    admin = users["admin"]
    with scripted_app.state.neopain.sessions() as db:
        for i in range(130):
            audit(db, None, "view", "record", f"page-{i}")
        db.commit()
    first = admin.client.get("/admin/audit")
    assert first.status_code == 200 and "Older events" in first.text
    older = first.text.split('href="/admin/audit?before=')[1].split("&")[0]
    second = admin.client.get(f"/admin/audit?before={older}")
    assert second.status_code == 200 and f">{int(older) - 1}<" in second.text
    opened = admin.client.get(f"/admin/audit?baby={visit['baby']}")
    assert opened.status_code == 200 and "nurse1" in opened.text and visit["record"] in opened.text
    assert "page-1" not in opened.text and NAME not in opened.text
    asked = rows(scripted_app, action="view", object_type="audit_of_baby")[-1]
    assert asked.username == "admin1" and asked.subject == visit["baby"]
    checked = admin.form("/admin/audit/verify")
    assert checked.status_code == 200 and "Audit chain intact" in checked.text


def test_verify_names_the_first_altered_deleted_or_inserted_row(scripted_app, visit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An attacker with the database's owner rights drops the guard: the chain still tells."""
    state = scripted_app.state.neopain
    monkeypatch.setenv("NEOPAIN_DB_URL", state.engine.url.render_as_string(hide_password=False))
    assert CliRunner().invoke(cli, ["audit", "verify"]).exit_code == 0
    postgres = state.engine.dialect.name == "postgresql"
    guards = ["audit_events_append_only", "audit_events_no_truncate"] if postgres else \
        ["audit_events_no_update", "audit_events_no_delete"]
    with state.engine.begin() as connection:
        for name in guards:
            connection.execute(text(f"ALTER TABLE audit_events DISABLE TRIGGER {name}" if postgres else
                                    f"DROP TRIGGER {name}"))
    target = rows(scripted_app)[5]
    # The module's database is its own: the broken chain left at the end of this (last) test goes with it.
    with state.engine.begin() as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(action="nothing"))
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and f"seq {target.seq} " in result.output and "altered" in result.output
    with state.engine.begin() as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(action=target.action))
    assert chain_report(scripted_app).ok
    with state.engine.begin() as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.id == target.id))
    problem = chain_report(scripted_app).problem
    assert f"seq {target.seq}" in problem and "missing" in problem
    with state.engine.begin() as connection:  # put it back, then forge one at the end without the lock
        connection.execute(insert(AuditEvent).values({c.name: getattr(target, c.name) for c in AuditEvent.__table__.columns}))
        last = connection.execute(select(func.max(AuditEvent.seq))).scalar_one()
        connection.execute(insert(AuditEvent).values(
            seq=last + 1, at=utcnow(), username="x", action="view", object_type="record", object_id="",
            subject="", client="", session_ref="", prev_hash="0" * 64, row_hash="0" * 64))
    assert f"seq {last + 1}" in chain_report(scripted_app).problem
