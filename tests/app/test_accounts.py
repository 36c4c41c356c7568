"""Accounts and sessions as a hospital's IT needs them: disable, reset, role, sessions, log out everywhere
(admin pages and CLI, each audited); a shift-long absolute session lifetime; the password policy and argon2
upgrades; login throttling that parallel guesses cannot outrun; bounded password hashing."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

import pytest
from _appkit import (
    CSRF_FIELD,
    CSRF_META,
    PASSWORD,
    ScriptedPredictor,
    add_user,
    browser_for,
    post_frame,
    scripted_frame,
    start_assessment,
)
from argon2 import PasswordHasher
from conftest import make_settings
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

import neopain.cli.accounts  # noqa: F401  (registers the commands)
from neopain.app.core import security
from neopain.app.core.security import PasswordPolicyError, check_password_policy
from neopain.app.main import create_app, housekeeping
from neopain.app.models import AuditEvent, User, UserSession, utcnow
from neopain.cli.apps import app as cli

NEW_PASSWORD = "lantern-orchard-velvet-42"


def new_account(app, role: str = "nurse") -> tuple[str, int]:  # type: ignore[no-untyped-def]
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    return username, add_user(app, username, role)


def live(app, user_id: int) -> int:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)))


def audited(app, action: str, object_id: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                        AuditEvent.object_id == object_id)))


def login_form(app, address: str = "testclient"):  # type: ignore[no-untyped-def]
    """A browser at ``address`` that has opened the login page: (its client, the form's CSRF token)."""
    client = TestClient(app, base_url="http://localhost", client=(address, 50000))
    page = client.get("/login")
    found = CSRF_FIELD.search(page.text)
    assert found, f"GET /login from {address}: {page.status_code} without a CSRF field"
    return client, found.group(1)


def submit_login(form, username: str, password: str):  # type: ignore[no-untyped-def]
    client, token = form
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=False)


def try_login(app, username: str, password: str, address: str = "testclient"):  # type: ignore[no-untyped-def]
    return submit_login(login_form(app, address), username, password)


def test_disabling_ends_every_session_at_once_and_enabling_lets_the_user_back(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    name, user_id = new_account(scripted_app)
    phone, tablet = browser_for(scripted_app, "nurse", name), browser_for(scripted_app, "nurse", name)
    assert live(scripted_app, user_id) == 2
    admin = users["admin"]
    assert admin.form(f"/admin/users/{user_id}/active", {"active": "false"}).status_code == 303
    assert live(scripted_app, user_id) == 0
    for device in (phone, tablet):
        assert device.client.get("/history", follow_redirects=False).headers["location"].startswith("/login")
    assert try_login(scripted_app, name, PASSWORD).status_code == 401
    assert admin.form(f"/admin/users/{user_id}/active", {"active": "true"}).status_code == 303
    assert try_login(scripted_app, name, PASSWORD).status_code == 303
    assert [e.detail["sessions_ended"] for e in audited(scripted_app, "disable", name)] == [2]
    assert audited(scripted_app, "enable", name)[0].username == "admin1"


def test_a_reset_gives_a_one_time_password_that_must_be_changed(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    name, user_id = new_account(scripted_app)
    old = browser_for(scripted_app, "nurse", name)
    page = users["admin"].form(f"/admin/users/{user_id}/reset")
    one_time = re.search(r'id="one-time-password">([^<]+)<', page.text).group(1)
    assert live(scripted_app, user_id) == 0 and old.client.get("/", follow_redirects=False).status_code == 303
    assert try_login(scripted_app, name, PASSWORD).status_code == 401  # the old password is gone
    logged = try_login(scripted_app, name, one_time)
    assert logged.headers["location"] == "/account/password"
    client = TestClient(scripted_app, base_url="http://localhost", cookies=logged.cookies)
    for url in ("/", "/history", "/assessments/new"):  # nothing but the password change
        assert client.get(url, follow_redirects=False).headers["location"] == "/account/password"
    assert client.post("/api/babies/search", json={"q": ""}).status_code == 403
    csrf = CSRF_META.search(client.get("/account/password").text).group(1)
    weak = client.post("/account/password", data={"csrf_token": csrf, "current": one_time, "new": "password1234",
                                                  "repeat": "password1234"})
    assert weak.status_code == 422 and "common" in weak.text
    changed = client.post("/account/password", data={"csrf_token": csrf, "current": one_time, "new": NEW_PASSWORD,
                                                     "repeat": NEW_PASSWORD}, follow_redirects=False)
    assert changed.status_code == 303 and changed.headers["location"] == "/"
    client.cookies = changed.cookies
    assert client.get("/history").status_code == 200
    assert try_login(scripted_app, name, NEW_PASSWORD).status_code == 303
    assert audited(scripted_app, "reset_password", name) and audited(scripted_app, "change_password", name)


def test_a_role_change_ends_the_sessions_and_keeps_one_admin(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    name, user_id = new_account(scripted_app)
    browser = browser_for(scripted_app, "nurse", name)
    admin = users["admin"]
    assert admin.form(f"/admin/users/{user_id}/role", {"role": "admin"}).status_code == 303
    assert browser.client.get("/history", follow_redirects=False).headers["location"].startswith("/login")
    promoted = browser_for(scripted_app, "admin", name)
    assert promoted.client.get("/history").status_code == 403  # the admin role alone gives no baby's data
    change = audited(scripted_app, "change_role", name)[0]
    assert (change.detail["old"], change.detail["new"]) == ("nurse", "admin")


def test_the_last_active_admin_cannot_be_disabled_or_demoted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from _appkit import add_users

    app = create_app(make_settings(tmp_path), ScriptedPredictor())
    add_users(app)
    admin = browser_for(app, "admin")
    with app.state.neopain.sessions() as db:
        admin_id = db.scalar(select(User.id).where(User.username == "admin1"))
    disabled = admin.form(f"/admin/users/{admin_id}/active", {"active": "false"})
    assert disabled.status_code == 409 and "last active admin" in disabled.text
    demoted = admin.form(f"/admin/users/{admin_id}/role", {"role": "nurse"})
    assert demoted.status_code == 422 and "last active admin" in demoted.text
    assert admin.client.get("/admin/users").status_code == 200


def test_sessions_are_listed_and_ended_everywhere(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    name, user_id = new_account(scripted_app)
    first, second = browser_for(scripted_app, "nurse", name), browser_for(scripted_app, "nurse", name)
    listed = users["admin"].client.get(f"/admin/users/{user_id}/sessions")
    assert listed.status_code == 200 and listed.text.count("testclient") == 2
    own = first.client.get("/account")
    assert own.status_code == 200 and own.text.count("testclient") == 2
    assert first.form("/account/logout-everywhere").headers["location"] == "/login"
    assert live(scripted_app, user_id) == 0
    assert second.client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    third = browser_for(scripted_app, "nurse", name)
    assert users["admin"].form(f"/admin/users/{user_id}/logout").status_code == 303
    assert third.client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    assert [e.detail["sessions_ended"] for e in audited(scripted_app, "logout_everywhere", name)] == [2, 1]


def test_the_absolute_lifetime_ends_a_busy_session(scripted_app) -> None:  # type: ignore[no-untyped-def]
    name, user_id = new_account(scripted_app)
    nurse = browser_for(scripted_app, "nurse", name)
    assessment, token = start_assessment(nurse, "Shift Baby")
    assert post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).status_code == 200
    state = scripted_app.state.neopain
    with state.sessions() as db:  # logged in 12 h and 1 min ago, active a second ago (the camera)
        db.execute(update(UserSession).where(UserSession.user_id == user_id)
                   .values(created_at=utcnow() - timedelta(hours=12, minutes=1), last_seen_at=utcnow()))
        db.commit()
    assert post_frame(nurse, assessment, token, scripted_frame("no_pain"), uuid.uuid4().hex).status_code == 401
    assert live(scripted_app, user_id) == 0
    other, other_id = new_account(scripted_app)
    browser_for(scripted_app, "nurse", other)
    with state.sessions() as db:
        db.execute(update(UserSession).where(UserSession.user_id == other_id)
                   .values(last_seen_at=utcnow() - timedelta(hours=1)))
        db.commit()
    housekeeping(state)  # expired sessions are deleted even when nobody comes back
    assert live(scripted_app, other_id) == 0


@pytest.mark.parametrize("password", ["short-1", "password1234", "aaaaaaaaaaaaaaaa", "ana-the-nurse-2026"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(PasswordPolicyError):
        check_password_policy(password, "ana-the-nurse")


def test_passphrases_and_strong_passwords_pass() -> None:
    for password in ("correct horse battery staple", NEW_PASSWORD, PASSWORD):
        check_password_policy(password, "ana")


def test_older_argon2_parameters_are_upgraded_at_login(scripted_app) -> None:  # type: ignore[no-untyped-def]
    name, user_id = new_account(scripted_app)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with scripted_app.state.neopain.sessions() as db:
        db.execute(update(User).where(User.id == user_id).values(password_hash=weak))
        db.commit()
    assert try_login(scripted_app, name, PASSWORD).status_code == 303
    with scripted_app.state.neopain.sessions() as db:
        stored = db.scalar(select(User.password_hash).where(User.id == user_id))
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)
    assert try_login(scripted_app, name, PASSWORD).status_code == 303


def test_forty_parallel_guesses_get_no_more_tries_than_five_serial_ones(db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, db_url, login_max_failures=5), ScriptedPredictor())
    name, _ = new_account(app)
    answers: list[int] = []
    lock = threading.Lock()

    # The forms are opened one by one (40 page loads at once only test the database pool); the guesses race.
    forms = [login_form(app, f"10.2.{i}.1") for i in range(40)]

    def guess(i: int) -> None:
        status = submit_login(forms[i], name, f"guess-number-{i}").status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [401] * 5 + [429] * 35
    assert try_login(app, name, PASSWORD, "10.3.0.1").status_code == 429  # the account waits out the window


def test_a_flood_of_logins_waits_for_a_hashing_slot_and_is_told_to_retry(scripted_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(security, "_SLOTS", slots)
    monkeypatch.setattr(security, "HASH_WAIT_S", 0.2)
    name, _ = new_account(scripted_app)
    slots.acquire()  # every slot busy hashing someone else's password
    try:
        busy = try_login(scripted_app, name, PASSWORD, "10.4.0.1")
    finally:
        slots.release()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert try_login(scripted_app, name, PASSWORD, "10.4.0.1").status_code == 303


def test_the_command_line_manages_accounts_and_audits_each_change(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEOPAIN_DB_URL", raising=False)
    monkeypatch.setenv("NEOPAIN_NEW_PASSWORD", PASSWORD)
    runner = CliRunner()
    assert runner.invoke(cli, ["users", "create", "--username", "ana", "--role", "nurse"]).exit_code == 0
    app = create_app(make_settings(tmp_path), ScriptedPredictor())
    browser_for(app, "nurse", "ana")
    assert "1 open sessions" in runner.invoke(cli, ["users", "sessions", "ana"]).output
    assert "ended 1 sessions" in runner.invoke(cli, ["users", "logout-all", "ana"]).output
    assert runner.invoke(cli, ["users", "set-role", "ana", "researcher"]).exit_code == 0
    assert "ana\tresearcher\tactive" in runner.invoke(cli, ["users", "list"]).output
    reset = runner.invoke(cli, ["users", "reset-password", "ana"])
    one_time = reset.stdout.strip().splitlines()[-1]
    assert try_login(app, "ana", one_time).headers["location"] == "/account/password"
    assert runner.invoke(cli, ["users", "disable", "ana"]).exit_code == 0
    assert try_login(app, "ana", one_time).status_code == 401
    assert runner.invoke(cli, ["users", "enable", "ana"]).exit_code == 0
    unknown = runner.invoke(cli, ["users", "disable", "nobody"])
    assert unknown.exit_code == 2 and "no user 'nobody'" in unknown.output
    with app.state.neopain.sessions() as db:
        trail = list(db.scalars(select(AuditEvent).where(AuditEvent.object_id == "ana").order_by(AuditEvent.seq)))
    assert [e.action for e in trail] == ["create", "logout_everywhere", "change_role", "reset_password",
                                         "disable", "enable"]
    assert all(e.client.startswith("cli:") for e in trail)
