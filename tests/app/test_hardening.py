"""Hardening: security headers, login throttling (429) per account and per address, no default secrets outside development, Secure
cookies and HSTS over HTTPS, and templates that need no inline script or style (a CSP without
'unsafe-inline')."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _appkit import (
    CSRF_FIELD,
    PASSWORD,
    ScriptedPredictor,
    add_users,
    browser_for,
    post_frame,
    scripted_frame,
    start_assessment,
)
from conftest import make_settings
from fastapi.testclient import TestClient
from pydantic import ValidationError

from neopain.app.core.ratelimit import LoginThrottle
from neopain.app.core.settings import AppSettings
from neopain.app.main import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "neopain" / "app" / "templates"


@pytest.fixture(scope="module")
def app(tmp_path_factory):  # type: ignore[no-untyped-def]
    application = create_app(
        make_settings(tmp_path_factory.mktemp("hard"), login_max_failures=3), ScriptedPredictor()
    )
    add_users(application)
    return application


def try_login(app, username: str, password: str, address: str = "testclient"):  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="http://localhost", client=(address, 50000))
    token = CSRF_FIELD.search(client.get("/login").text).group(1)
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/login", data=data, follow_redirects=False)


def test_login_is_throttled_per_account_across_addresses(app) -> None:  # type: ignore[no-untyped-def]
    for address in ("10.0.0.7", "10.0.0.8", "10.0.0.9"):  # a guesser moving between devices
        assert try_login(app, "researcher1", "wrong-password", address).status_code == 401
    blocked = try_login(app, "researcher1", PASSWORD, "10.0.0.10")  # even the right password waits
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "Too many failed logins" in blocked.text and "neopain_session" not in blocked.cookies
    assert try_login(app, "nurse1", PASSWORD, "10.0.0.7").status_code == 303  # another account
    for _ in range(2):
        try_login(app, "admin1", "wrong-password", "10.0.0.11")
    assert try_login(app, "admin1", PASSWORD, "10.0.0.11").status_code == 303  # a success resets
    assert try_login(app, "admin1", "wrong-password", "10.0.0.11").status_code == 401


def test_login_is_throttled_per_address_across_accounts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, login_max_per_address=4), ScriptedPredictor())
    add_users(app)
    for i in range(4):  # spraying one password over many accounts from one address
        assert try_login(app, f"someone{i}", "Summer2026!", "10.1.0.1").status_code == 401
    assert try_login(app, "nurse1", PASSWORD, "10.1.0.1").status_code == 429
    assert try_login(app, "nurse1", PASSWORD, "10.1.0.2").status_code == 303


def test_throttle_window_ends_and_counts_survive_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from neopain.app.core.ratelimit import Limits
    from neopain.app.models import utcnow

    first = create_app(make_settings(tmp_path, login_max_failures=2), ScriptedPredictor())
    now = [utcnow()]
    throttle = LoginThrottle(first.state.neopain.sessions, b"k" * 32, Limits(2, 100, 60), clock=lambda: now[0])
    assert throttle.reserve("Ana", "1.2.3.4") == throttle.reserve("ana", "5.6.7.8") == 0  # case-insensitive
    assert 55 <= throttle.reserve("ANA", "1.2.3.4") <= 61
    second = create_app(make_settings(tmp_path, login_max_failures=2), ScriptedPredictor())  # a restart
    again = LoginThrottle(second.state.neopain.sessions, b"k" * 32, Limits(2, 100, 60), clock=lambda: now[0])
    assert again.reserve("ana", "9.9.9.9") > 0
    now[0] += timedelta(seconds=61)
    assert again.reserve("ana", "9.9.9.9") == 0
    assert again.sweep() == 2  # the first two addresses' windows ended; the account's just restarted
    now[0] += timedelta(seconds=61)
    assert again.sweep() == 2


def test_security_headers_everywhere_and_no_store_on_patient_pages(app) -> None:  # type: ignore[no-untyped-def]
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Header Baby")
    record = post_frame(nurse, assessment, token, scripted_frame("pain"), "header-frame-1").json()[
        "record_id"
    ]
    baby = nurse.api("/api/babies/search", json={"q": "Header"}).json()[0]["id"]
    patient = [f"/babies/{baby}", f"/records/{record}", f"/records/{record}/image", "/history",
               f"/assessments/{assessment}/camera", "/records/unknown"]  # fmt: skip
    for url in [*patient, "/", "/login", "/static/app.css"]:
        response = nurse.client.get(url)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # plain HTTP on loopback
    for url in patient:
        assert nurse.client.get(url).headers["cache-control"] == "no-store", url
    assert nurse.client.get("/static/app.css").headers.get("cache-control") != "no-store"


def test_templates_need_no_inline_script_or_style() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), template.name


def test_https_sets_secure_cookies_and_hsts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, https=True), ScriptedPredictor())
    add_users(app)
    client = TestClient(app, base_url="https://localhost")
    page = client.get("/login")
    assert "Secure" in page.headers["set-cookie"]
    assert page.headers["strict-transport-security"].startswith("max-age=")
    token = CSRF_FIELD.search(page.text).group(1)
    response = client.post(
        "/login",
        data={"username": "nurse1", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "neopain_session" in v
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://neopain@db.ward/neopain",
        "postgresql://neopain:@db.ward/neopain",
        "postgresql://postgres:postgres@db.ward/neopain",
        "postgresql://neopain:changeme@db.ward/neopain",
        "postgresql://neopain:Password@db.ward/neopain",
    ],
)
def test_production_refuses_default_database_secrets(url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="default or empty password"):
        AppSettings(env="production", db_url=url, data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    AppSettings(env="development", db_url=url, data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]


def test_production_accepts_real_secrets_and_refuses_unknown_environments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    real = "postgresql://neopain:k3rT9-long-Random@db.ward/neopain"
    assert AppSettings(env="production", db_url=real, _env_file=None).env == "production"  # type: ignore[call-arg]
    assert AppSettings(env="production", data_dir=tmp_path, _env_file=None).db_url is None  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="env must be one of"):
        AppSettings(env="prod", _env_file=None)  # type: ignore[call-arg]


def test_a_body_without_length_cannot_exhaust_memory_on_login(app) -> None:  # type: ignore[no-untyped-def]
    limit = app.state.neopain.settings.max_upload_bytes

    def chunks():  # type: ignore[no-untyped-def]
        yield b"username=x&password="
        for _ in range(limit // 65536 + 3):
            yield b"a" * 65536

    client = TestClient(app, base_url="http://localhost")
    response = client.post(
        "/login", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413 and response.headers["x-content-type-options"] == "nosniff"


def test_forwarded_headers_are_believed_only_from_the_trusted_proxy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from neopain.app.models import AuditEvent

    app = create_app(make_settings(tmp_path, trusted_proxies="10.9.9.9"), ScriptedPredictor())
    add_users(app)
    forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    for peer in ("10.9.9.9", "10.1.1.1"):  # the proxy, then a phone on the ward network spoofing it
        # The browser's side of the proxy is HTTPS (the Secure cookies come back); the app's side is not.
        client = TestClient(app, base_url="https://localhost", client=(peer, 5000), headers=forwarded)
        token = CSRF_FIELD.search(client.get("/login").text).group(1)
        response = client.post("/login", data={"username": "nurse1", "password": PASSWORD, "csrf_token": token},
                               follow_redirects=False)
        cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "neopain_session" in v)
        assert "Secure" in cookie  # TLS ends at the proxy: the cookies still never travel in the clear
    with app.state.neopain.sessions() as db:
        clients = [e.client for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "login")
                                                 .order_by(AuditEvent.seq))]
    assert clients == ["203.0.113.5", "10.1.1.1"]
