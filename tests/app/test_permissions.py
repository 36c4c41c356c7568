"""Every route, every kind of visitor: anonymous and wrong roles are refused, the right roles get through.

The table must list every route of the app: a new route without a rule here fails the first test.
"""

from __future__ import annotations

import uuid

import pytest
from _appkit import (
    PASSWORD,
    ROLES,
    accept_all,
    add_observation,
    add_user,
    fresh_browser,
    post_frame,
    scripted_frame,
    start_assessment,
)
from fastapi.testclient import TestClient
from sqlalchemy import select

from neopain.app.core.storage import explanation_name
from neopain.app.models import Assessment, Baby, BreakGlass, Record, Unit, User, utcnow

PUBLIC = "public"
NEW_PASSWORD = "another-horse-staple-9"
OWN_ACCOUNT = ("/logout", "/account/logout-everywhere", "/account/password")
ALL = ROLES
CLINICAL = ("nurse", "researcher")
ADMIN = ("admin",)

RULES: dict[tuple[str, str], object] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("POST", "/logout"): ALL,
    ("GET", "/"): ALL,
    ("GET", "/instructions"): ALL,
    ("GET", "/model"): ALL,
    ("GET", "/assessments/new"): CLINICAL,
    ("POST", "/assessments"): CLINICAL,
    ("GET", "/assessments/{assessment_id}/camera"): CLINICAL,
    ("POST", "/assessments/{assessment_id}/takeover"): CLINICAL,
    ("POST", "/babies/{baby_id}/break-glass"): CLINICAL,
    ("POST", "/api/babies/search"): CLINICAL,
    ("POST", "/api/assessments/{assessment_id}/frames"): CLINICAL,
    ("GET", "/history"): CLINICAL,
    ("POST", "/history"): CLINICAL,
    ("GET", "/babies/{baby_id}"): CLINICAL,
    ("GET", "/records/{record_id}"): CLINICAL,
    ("GET", "/records/{record_id}/image"): CLINICAL,
    ("POST", "/records/{record_id}/confirm"): CLINICAL,
    ("POST", "/records/{record_id}/explain"): CLINICAL,
    ("GET", "/records/{record_id}/explanation"): CLINICAL,
    ("GET", "/records/{record_id}/evidence/{action}"): CLINICAL,
    ("POST", "/api/assessments/{assessment_id}/observations"): CLINICAL,
    ("POST", "/api/observations/{observation_id}/end"): CLINICAL,
    ("GET", "/observations/{observation_id}"): CLINICAL,
    ("POST", "/observations/{observation_id}"): CLINICAL,
    ("GET", "/babies/{baby_id}/review"): CLINICAL,
    ("POST", "/babies/{baby_id}/review"): CLINICAL,
    ("GET", "/account"): ALL,
    ("POST", "/account/logout-everywhere"): ALL,
    ("GET", "/account/password"): ALL,
    ("POST", "/account/password"): ALL,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("POST", "/admin/users/{user_id}/active"): ADMIN,
    ("POST", "/admin/users/{user_id}/role"): ADMIN,
    ("POST", "/admin/users/{user_id}/reset"): ADMIN,
    ("GET", "/admin/users/{user_id}/sessions"): ADMIN,
    ("POST", "/admin/users/{user_id}/logout"): ADMIN,
    ("GET", "/admin/units"): ADMIN,
    ("POST", "/admin/units"): ADMIN,
    ("POST", "/admin/users/{user_id}/units"): ADMIN,
    ("GET", "/admin/break-glass"): ADMIN,
    ("POST", "/admin/break-glass/{entry_id}/review"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
    ("POST", "/admin/audit/verify"): ADMIN,
    ("GET", "/admin/audit.csv"): ADMIN,
    ("GET", "/admin/erase"): ADMIN,
    ("POST", "/admin/erase"): ADMIN,
}


def app_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every (method, path) the app answers: the OpenAPI document's operations plus plain routes."""
    found = {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}
    for route in app.routes:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


@pytest.fixture(scope="module")
def ids(scripted_app, users):  # type: ignore[no-untyped-def]
    """Real ids to put in the paths: a baby with one assessment and one saved record."""
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Permission Baby")
    saved = post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).json()
    with scripted_app.state.neopain.sessions() as db:
        row = db.scalar(select(Assessment).where(Assessment.public_id == assessment))
        baby = row.baby.public_id
        image = db.scalar(select(Record.image_name).where(Record.public_id == saved["record_id"]))
    # An explanation overlay, so that the overlay route has something to serve to the allowed roles.
    images = scripted_app.state.neopain.images
    images.path_of(explanation_name(image)).write_bytes(scripted_frame("pain"))
    with scripted_app.state.neopain.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == "nurse1"))
        entry = BreakGlass(user_id=user_id, baby_id=row.baby_id, reason="a test entry to review",
                           expires_at=utcnow())
        db.add(entry)
        db.commit()
    # An observation window whose time is over: the first allowed role ends it, then saves it (409 after).
    observation = add_observation(scripted_app, assessment)
    return {"assessment_id": assessment, "baby_id": baby, "record_id": saved["record_id"], "action": "brow_bulge",
            "user_id": str(user_id), "entry_id": str(entry.id), "observation_id": observation}


def current_token(app, assessment: str) -> str:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return db.scalar(select(Assessment.client_token).where(Assessment.public_id == assessment))


def throwaway_baby(app) -> str:  # type: ignore[no-untyped-def]
    """A baby of its own for each erase request, so that an allowed erase finds something to erase."""
    with app.state.neopain.sessions() as db:
        baby = Baby(display_name="Erase Me", unit_id=db.scalar(select(Unit.id)))
        db.add(baby)
        db.commit()
        return baby.public_id


def send(app, client: TestClient, csrf: str, method: str, path: str, ids: dict[str, str]):  # type: ignore[no-untyped-def]
    """A well-formed request to the route, so that only the permission decides the answer."""
    if path.startswith("/admin/users/{user_id}") and method == "POST":
        ids = {**ids, "user_id": str(add_user(app, f"t-{uuid.uuid4().hex[:8]}", "nurse"))}
    url = path.format(**ids)
    if path == "/admin/erase" and method == "POST":
        victim = throwaway_baby(app)
        ids = {**ids, "erase": victim}
    headers = {"X-CSRF-Token": csrf}
    if method == "GET":
        return client.get(url, follow_redirects=False)
    bodies = {
        "/login": {"username": "nobody", "password": "x" * 9},
        "/assessments": {"baby_id": ids["baby_id"]},
        "/history": {"q": "Perm"},
        "/records/{record_id}/confirm": {"label": "pain"},
        "/records/{record_id}/explain": {},
        "/admin/users": {"username": f"u{uuid.uuid4().hex[:8]}", "password": PASSWORD, "role": "nurse"},
        "/logout": {},
        "/account/logout-everywhere": {},
        "/account/password": {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        "/admin/users/{user_id}/active": {"active": "false"},
        "/admin/users/{user_id}/role": {"role": "researcher"},
        "/admin/users/{user_id}/reset": {},
        "/admin/users/{user_id}/logout": {},
        "/admin/audit/verify": {},
        "/admin/units": {"name": f"Unit {uuid.uuid4().hex[:6]}"},
        "/admin/users/{user_id}/units": {},
        "/admin/break-glass/{entry_id}/review": {},
        "/assessments/{assessment_id}/takeover": {},
        "/babies/{baby_id}/break-glass": {"reason": "checking a transferred baby now"},
        "/admin/erase": {"baby_id": ids.get("erase", ""), "confirm": ids.get("erase", "")},
        "/observations/{observation_id}": accept_all(),
        "/api/observations/{observation_id}/end": {},
    }
    if path == "/api/babies/search":
        return client.post(url, json={"q": "Perm"}, headers=headers)
    if path == "/api/assessments/{assessment_id}/observations":
        body = {"client_token": current_token(app, ids["assessment_id"]), "instrument": "nfcs-10"}
        return client.post(url, json=body, headers=headers)
    if path == "/babies/{baby_id}/review":
        files = {"clip": ("clip.avi", b"RIFF not a video", "video/x-msvideo")}
        form = {"csrf_token": csrf, "instrument": "nfcs-10"}
        return client.post(url, data=form, files=files, headers=headers, follow_redirects=False)
    if path == "/api/assessments/{assessment_id}/frames":
        data = {"frame_id": uuid.uuid4().hex, "client_token": current_token(app, ids["assessment_id"])}
        files = {"frame": ("f.png", scripted_frame("no_pain"), "image/png")}
        return client.post(url, data=data, files=files, headers=headers)
    return client.post(
        url, data={"csrf_token": csrf, **bodies[path]}, headers=headers, follow_redirects=False
    )


def refused_anonymously(response, path: str) -> bool:  # type: ignore[no-untyped-def]
    if path.startswith("/api/"):
        return response.status_code == 401
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_every_route_has_a_rule(scripted_app) -> None:  # type: ignore[no-untyped-def]
    assert app_routes(scripted_app) == set(RULES), "add the new route to RULES with the roles allowed"


@pytest.mark.parametrize(("method", "path"), sorted(RULES))
def test_anonymous(scripted_app, ids, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(scripted_app, base_url="http://localhost")
    response = send(scripted_app, client, "", method, path, ids)
    if RULES[(method, path)] == PUBLIC:
        assert response.status_code < 500 and not refused_anonymously(response, path)
    else:
        assert refused_anonymously(response, path), (response.status_code, response.text[:200])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), sorted(k for k, v in RULES.items() if v != PUBLIC))
def test_roles(scripted_app, users, ids, role: str, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    # Logging out or changing the password ends sessions, so those routes get an account of their own.
    user = fresh_browser(scripted_app, role) if path in OWN_ACCOUNT else users[role]
    response = send(scripted_app, user.client, user.csrf, method, path, ids)
    if role in RULES[(method, path)]:
        assert response.status_code not in (401, 403), response.text[:300]
        assert response.status_code < 400 or response.status_code == 409, response.text[:300]
        if response.status_code == 303:
            assert not response.headers["location"].startswith("/login") or path in OWN_ACCOUNT
    else:
        assert response.status_code == 403
        assert "role does not allow" in response.text


@pytest.mark.parametrize(
    ("method", "path"), sorted(k for k, v in RULES.items() if k[0] == "POST" and v != PUBLIC)
)
def test_posts_need_the_csrf_token(scripted_app, users, ids, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    role = next(iter(RULES[(method, path)]))  # type: ignore[call-overload]
    user = users[role]
    response = send(scripted_app, user.client, "forged-token", method, path, ids)
    assert response.status_code == 403
    assert "expired or came from elsewhere" in response.text
