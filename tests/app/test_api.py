"""The app's behaviour through HTTP, on SQLite and on a real PostgreSQL server (see conftest's db_url)."""

from __future__ import annotations

import logging
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta

from _appkit import PASSWORD, browser_for, login, post_frame, scripted_frame, start_assessment
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from neopain.app.core.saving import saved_indices
from neopain.app.models import Assessment, AuditEvent, Baby, Record, UserSession, utcnow
from neopain.app.services import frames


def frame_id() -> str:
    return uuid.uuid4().hex


def count(app, model, *where) -> int:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def records_of(app, assessment: str) -> list[Record]:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        a = db.scalar(select(Assessment).where(Assessment.public_id == assessment))
        return list(db.scalars(select(Record).where(Record.assessment_id == a.id).order_by(Record.id)))


# ---------------------------------------------------------------- login
def test_login_rejects_a_wrong_password_and_a_missing_form_token(scripted_app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(scripted_app, base_url="http://localhost")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    wrong = client.post("/login", data={"username": "nurse1", "password": "nope-nope-1", "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    forged = client.post("/login", data={"username": "nurse1", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403
    assert "neopain_session" not in client.cookies


def test_session_cookie_is_httponly_and_strict(scripted_app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(scripted_app, base_url="http://localhost")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post(
        "/login",
        data={"username": "nurse1", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "neopain_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_logout_ends_the_session(scripted_app) -> None:  # type: ignore[no-untyped-def]
    user = browser_for(scripted_app, "nurse")
    assert user.form("/logout").status_code == 303
    assert user.client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_inactivity_logs_out(scripted_app) -> None:  # type: ignore[no-untyped-def]
    user = browser_for(scripted_app, "researcher")
    idle = timedelta(minutes=scripted_app.state.neopain.settings.session_idle_minutes + 1)
    with scripted_app.state.neopain.sessions() as db:
        db.execute(
            update(UserSession)
            .values(last_seen_at=utcnow() - idle)
            .where(UserSession.csrf_token == user.csrf)
        )
        db.commit()
    response = user.client.get("/history", follow_redirects=False)
    assert response.headers["location"] == "/login?expired=1"
    assert count(scripted_app, UserSession, UserSession.csrf_token == user.csrf) == 0
    assert user.api("/api/babies/search", json={"q": ""}).status_code == 401


# ---------------------------------------------------------------- babies and assessments
def test_start_assessment_for_a_new_and_an_existing_baby(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    first, _ = start_assessment(nurse, "Ana Beatriz Souza")
    found = nurse.api("/api/babies/search", json={"q": "beatriz"}).json()
    assert [b["name"] for b in found] == ["Ana Beatriz Souza"]
    again = nurse.form("/assessments", {"baby_id": found[0]["id"]})
    assert again.status_code == 303
    second = again.headers["location"].split("/")[2]
    assert second != first
    assert count(scripted_app, Baby, Baby.display_name == "Ana Beatriz Souza") == 1


def test_start_refuses_an_empty_name_and_an_unknown_baby(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    before = count(scripted_app, Assessment)
    empty = nurse.form("/assessments", {"new_name": "   "})
    assert empty.status_code == 422 and "type the baby" in empty.text
    unknown = nurse.form("/assessments", {"baby_id": "no-such-baby-id"})
    assert unknown.status_code == 422 and "search again" in unknown.text
    assert count(scripted_app, Assessment) == before


def test_names_stay_out_of_urls_logs_and_audit(scripted_app, users, caplog) -> None:  # type: ignore[no-untyped-def]
    name = "Zuleica Ximenes"
    nurse = users["nurse"]
    with caplog.at_level(logging.DEBUG):
        assessment, token = start_assessment(nurse, name)
        post_frame(nurse, assessment, token, scripted_frame("pain"), frame_id())
        history = nurse.form("/history", {"q": "Zuleica"})
    assert name in history.text
    for url in re.findall(r'(?:href|src|action)="([^"]+)"', history.text):
        assert "Zuleica" not in url and "Ximenes" not in url
    assert name not in caplog.text
    with scripted_app.state.neopain.sessions() as db:
        for event in db.scalars(select(AuditEvent)):
            assert "Zuleica" not in f"{event.action} {event.object_type} {event.object_id}"


def test_search_escapes_wildcards(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    start_assessment(nurse, "Percent_Baby")
    assert [b["name"] for b in nurse.api("/api/babies/search", json={"q": "t_b"}).json()] == ["Percent_Baby"]
    assert nurse.api("/api/babies/search", json={"q": "%%%"}).json() == []


# ---------------------------------------------------------------- frames and the saving rule
def test_saving_rule_through_the_api(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    script = [None, "no_pain", "no_pain", None, "pain", "pain", "no_pain", None, "no_pain", "pain"]
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Rule Baby")
    answers = [post_frame(nurse, assessment, token, scripted_frame(k), frame_id()).json() for k in script]
    assert [i for i, a in enumerate(answers) if a["saved"]] == saved_indices(script) == [1, 4, 6, 9]
    assert [a["status"] for a in answers] == ["no_assessment" if k is None else "ok" for k in script]
    assert answers[0]["reason"] == "no_face" and answers[0]["label"] is None
    rows = records_of(scripted_app, assessment)
    assert [r.label for r in rows] == ["no_pain", "pain", "no_pain", "pain"]
    assert [r.public_id for r in rows] == [a["record_id"] for a in answers if a["saved"]]
    images = scripted_app.state.neopain.images
    for row in rows:
        assert images.path_of(row.image_name).is_file()
        assert row.model_id == "scripted-0" and row.processing_ms == 5.0


def test_a_retried_frame_is_saved_once(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Retry Baby")
    fid = frame_id()
    first = post_frame(nurse, assessment, token, scripted_frame("pain"), fid).json()
    again = post_frame(nurse, assessment, token, scripted_frame("pain"), fid).json()
    assert first["saved"] and not first["replay"]
    assert again["replay"] and again["record_id"] == first["record_id"]
    assert len(records_of(scripted_app, assessment)) == 1
    other, other_token = start_assessment(nurse, "Other Baby")
    clash = post_frame(nurse, other, other_token, scripted_frame("pain"), fid)
    assert clash.status_code == 409
    # A frame answered "not saved", retried after a later frame moved the saving rule on: still not saved,
    # counted once.
    quiet = frame_id()
    assert not post_frame(nurse, assessment, token, scripted_frame("pain"), quiet).json()["saved"]
    assert post_frame(nurse, assessment, token, scripted_frame("no_pain"), frame_id()).json()["saved"]
    predictor = scripted_app.state.neopain.predictor.get()
    calls = predictor.calls
    retry = post_frame(nurse, assessment, token, scripted_frame("pain"), quiet).json()
    assert retry["replay"] and not retry["saved"] and retry["label"] == "pain"
    assert predictor.calls == calls  # answered as the first time, not assessed again
    frames._unsaved_answers.clear()  # as in another server process, or one restarted since
    again = post_frame(nurse, assessment, token, scripted_frame("pain"), quiet).json()
    assert again["replay"] and not again["saved"] and again["label"] == "pain"
    assert predictor.calls == calls + 1
    assert [r.label for r in records_of(scripted_app, assessment)] == ["pain", "no_pain"]
    with scripted_app.state.neopain.sessions() as db:
        row = db.scalars(select(Assessment).where(Assessment.public_id == assessment)).one()
        assert row.frames_seen == 3 and row.unsaved_frames == [quiet]  # the first, the quiet one, no_pain


def test_a_second_tab_takes_over_and_the_first_stops(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    assessment, old_token = start_assessment(nurse, "Two Tabs Baby")
    assert post_frame(nurse, assessment, old_token, scripted_frame("no_pain"), frame_id()).status_code == 200
    page = nurse.client.get(f"/assessments/{assessment}/camera")
    new_token = re.search(r'data-client-token="([^"]+)"', page.text).group(1)
    stale = post_frame(nurse, assessment, old_token, scripted_frame("pain"), frame_id())
    assert stale.status_code == 409 and "another tab" in stale.json()["detail"]
    fresh = post_frame(nurse, assessment, new_token, scripted_frame("pain"), frame_id()).json()
    assert fresh["saved"]  # the rule's state carries over: no_pain was saved, pain is a change
    assert [r.label for r in records_of(scripted_app, assessment)] == ["no_pain", "pain"]


def test_bad_frames_get_clear_4xx_and_save_nothing(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Bad Frames Baby")
    cases = {
        b"": 422,
        b"this is not an image at all": 415,
        b"\xff\xd8\xff" + b"\0" * 400_000: 413,
        b"\xff\xd8\xff\xe0 truncated jpeg": 422,
    }
    for data, status in cases.items():
        response = post_frame(nurse, assessment, token, data, frame_id())
        assert response.status_code == status, (data[:10], response.text)
        assert response.json()["detail"]
    assert post_frame(nurse, assessment, token, scripted_frame("pain"), "bad id!").status_code == 422
    unknown = post_frame(nurse, "no-such-assessment", token, scripted_frame("pain"), frame_id())
    assert unknown.status_code == 404
    assert records_of(scripted_app, assessment) == []
    huge = nurse.api(
        "/api/babies/search", content=b" " * 500_000, headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413  # refused from its declared length, before anything reads it


def test_frames_without_a_model_answer_503(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from _appkit import add_users
    from conftest import make_settings

    from neopain.app.main import create_app

    app = create_app(make_settings(tmp_path, model_path=tmp_path / "missing.onnx"))
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "No Model Baby")
    response = post_frame(nurse, assessment, token, scripted_frame("pain"), frame_id())
    assert response.status_code == 503 and "model file not found" in response.json()["detail"]
    assert "missing.onnx" in nurse.client.get("/model").text


# ---------------------------------------------------------------- history, profile, records
def _assess(nurse, name: str, script: list) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    assessment, token = start_assessment(nurse, name)
    answers = [post_frame(nurse, assessment, token, scripted_frame(k), frame_id()).json() for k in script]
    return assessment, answers


def test_profile_totals_and_charts(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    _, answers = _assess(nurse, "Chart Baby", ["pain", "no_pain", "pain"])
    assert [a["saved"] for a in answers] == [True, True, True]
    baby = next(b for b in nurse.api("/api/babies/search", json={"q": "Chart Baby"}).json())
    page = nurse.client.get(f"/babies/{baby['id']}")
    assert page.status_code == 200
    assert re.search(r'id="total-records">3<', page.text)
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", page.text, re.DOTALL)
    assert len(charts) == 2
    hours = ET.fromstring(charts[1])
    rects = [e for e in hours.iter() if e.tag.endswith("rect")]
    assert sum(1 for r in rects if r.get("class") == "bar-pain") == 1  # all three records in one hour
    titles = " ".join(t.text or "" for t in hours.iter() if t.tag.endswith("title"))
    assert "2 pain" in titles and "1 no pain" in titles
    assert page.text.count('src="/records/') == 3


def test_record_page_image_and_confirmation(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    sent = scripted_frame("pain")
    assessment, token = start_assessment(nurse, "Record Baby")
    record = post_frame(nurse, assessment, token, sent, frame_id()).json()["record_id"]
    page = nurse.client.get(f"/records/{record}")
    assert page.status_code == 200 and "scripted-0" in page.text and "90%" in page.text
    image = nurse.client.get(f"/records/{record}/image")
    assert image.content == sent and image.headers["cache-control"] == "no-store"
    assert image.headers["content-type"] == "image/png"
    thumb = nurse.client.get(f"/records/{record}/image?face=1")
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.headers["cache-control"] == "no-store"
    assert thumb.content[:3] == b"\xff\xd8\xff" and thumb.content != sent
    corrected = nurse.form(
        f"/records/{record}/confirm", {"label": "no_pain", "actions": ["brow_bulge", "eye_squeeze"]}
    )
    assert corrected.status_code == 303
    (row,) = records_of(scripted_app, assessment)
    assert row.confirmed_label == "no_pain" and row.label == "pain"
    assert row.nfcs_actions == ["brow_bulge", "eye_squeeze"] and row.confirmed_at is not None
    assert (
        count(scripted_app, AuditEvent, AuditEvent.action == "correct", AuditEvent.object_id == record) == 1
    )
    assert nurse.form(f"/records/{record}/confirm", {"label": "maybe"}).status_code == 422
    assert nurse.form(f"/records/{record}/confirm", {"label": "pain", "actions": ["wink"]}).status_code == 422
    assert nurse.client.get("/records/nope/image").status_code == 404


def test_views_are_audited_by_opaque_id(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    _assess(nurse, "Audit Baby", ["pain"])
    baby = nurse.api("/api/babies/search", json={"q": "Audit Baby"}).json()[0]["id"]
    nurse.client.get(f"/babies/{baby}")
    assert count(scripted_app, AuditEvent, AuditEvent.action == "view", AuditEvent.object_id == baby) == 1
    admin = users["admin"]
    audit_page = admin.client.get("/admin/audit")
    assert baby in audit_page.text and "Audit Baby" not in audit_page.text


# ---------------------------------------------------------------- admin, model, misc
def test_admin_creates_users(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    admin = users["admin"]
    assert (
        admin.form("/admin/users", {"username": "carla", "password": PASSWORD, "role": "nurse"}).status_code
        == 303
    )
    assert (
        admin.form("/admin/users", {"username": "carla", "password": PASSWORD, "role": "nurse"}).status_code
        == 409
    )
    bad = admin.form("/admin/users", {"username": "dora", "password": PASSWORD, "role": "surgeon"})
    assert bad.status_code == 422 and "role" in bad.text
    assert login(scripted_app, "carla").get("/").status_code == 200


def test_pages_render_and_carry_security_headers(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    for url in ("/", "/instructions", "/model", "/assessments/new", "/history"):
        response = nurse.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert 'name="viewport"' in response.text
    assert "scripted" in nurse.client.get("/model").text
    assert nurse.client.get("/healthz").json() == {"status": "ok"}


def test_unknown_ids_answer_404(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    nurse = users["nurse"]
    for url in ("/babies/nope", "/records/nope", "/assessments/nope/camera"):
        response = nurse.client.get(url)
        assert response.status_code == 404 and "Not found" in response.text


def test_concurrent_frames_keep_the_rule_and_ids_unique(scripted_app, users) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from _appkit import Browser

    nurse = users["nurse"]
    assessment, token = start_assessment(nurse, "Concurrent Baby")
    shared_id = frame_id()

    def send(i: int) -> int:
        client = TestClient(scripted_app, base_url="http://localhost", cookies=dict(nurse.client.cookies))
        fid = shared_id if i % 2 else frame_id()  # half of them retry the same frame id
        return post_frame(
            Browser(client, "nurse", nurse.csrf), assessment, token, scripted_frame("pain"), fid
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(send, range(12)))
    assert statuses == [200] * 12
    rows = records_of(scripted_app, assessment)
    assert len(rows) == 1 and rows[0].label == "pain"  # one class, one record, whatever the interleaving
