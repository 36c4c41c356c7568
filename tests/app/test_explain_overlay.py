"""'Explain this decision' on the record page: the IG overlay made by the worker process, served safely.

The real path uses the tiny checkpoint behind the session's ONNX model and the YuNet detector on the
astronaut photo; the failure paths use a scripted predictor (the worker fails before it needs a face).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from _appkit import (
    ScriptedPredictor,
    add_users,
    astronaut_jpeg,
    browser_for,
    post_frame,
    scripted_frame,
    start_assessment,
)
from conftest import make_settings
from fastapi.testclient import TestClient
from sqlalchemy import select

from neopain.app.core import explanations
from neopain.app.core.storage import explanation_name
from neopain.app.main import create_app
from neopain.app.models import AuditEvent, Record
from neopain.app.services.retention import purge_images

REASON = "Explanations need the training extras and NEOPAIN_EXPLAIN_CHECKPOINT."
BUTTON = "Explain this decision"


def saved_record(nurse, frame: bytes, name: str = "f.png") -> str:  # type: ignore[no-untyped-def]
    assessment, token = start_assessment(nurse, f"Explained Baby {uuid.uuid4().hex[:4]}")
    answer = post_frame(nurse, assessment, token, frame, uuid.uuid4().hex, name).json()
    assert answer["saved"], answer
    return answer["record_id"]


def image_name_of(app, record_id: str) -> str:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return db.scalar(select(Record.image_name).where(Record.public_id == record_id))


def overlay_path(app, record_id: str) -> Path:  # type: ignore[no-untyped-def]
    images = app.state.neopain.images
    return images.path_of(explanation_name(image_name_of(app, record_id)))


def leftovers(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in app.state.neopain.images.names() if p.name.startswith(".")]


def audited(app, action: str, object_type: str, record_id: str) -> int:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        rows = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action,
                AuditEvent.object_type == object_type,
                AuditEvent.object_id == record_id,
            )
        )
        return len(list(rows))


def scripted_app_with(tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, **settings), ScriptedPredictor())
    add_users(app)
    return app


@pytest.fixture(scope="module")
def explaining(onnx_model: Path, real_predictor, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The real model and its checkpoint (written next to the ONNX file by ``build_tiny_onnx``)."""
    checkpoint = onnx_model.parent / "best.pt"
    settings = make_settings(tmp_path_factory.mktemp("data"), explain_checkpoint=checkpoint, explain_steps=8)
    app = create_app(settings, real_predictor)
    add_users(app)
    return app, browser_for(app, "nurse")


def test_explain_writes_the_overlay_and_the_page_shows_it_to_clinicians_only(explaining) -> None:  # type: ignore[no-untyped-def]
    app, nurse = explaining
    record = saved_record(nurse, astronaut_jpeg(), "f.jpg")
    page = nurse.client.get(f"/records/{record}")
    assert BUTTON in page.text and REASON not in page.text
    assert f"/records/{record}/explanation" not in page.text

    response = nurse.form(f"/records/{record}/explain")
    assert response.status_code == 303, response.text[-600:]
    assert re.fullmatch(rf"/records/{record}\?explained=(1|differs)", response.headers["location"])
    overlay = overlay_path(app, record)
    picture = cv2.imdecode(np.frombuffer(overlay.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[1] > picture.shape[0] >= 64  # face | map side by side
    assert overlay.parent == app.state.neopain.images.path_of(image_name_of(app, record)).parent
    assert leftovers(app) == [] and audited(app, "explain", "record", record) == 1

    page = nurse.client.get(response.headers["location"])
    assert f'src="/records/{record}/explanation"' in page.text and "Explain again" in page.text
    served = nurse.client.get(f"/records/{record}/explanation")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "no-store" and served.content == overlay.read_bytes()
    assert audited(app, "view", "image_explanation", record) == 1

    anonymous = TestClient(app, base_url="http://localhost").get(
        f"/records/{record}/explanation", follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    admin = browser_for(app, "admin").client.get(f"/records/{record}/explanation")
    assert admin.status_code == 403 and b"PNG" not in admin.content

    # A restart keeps the overlay (it belongs to a record); the retention purge deletes it with the frame.
    create_app(app.state.neopain.settings, ScriptedPredictor())
    assert overlay.is_file()
    assert purge_images(app.state.neopain.sessions, app.state.neopain.images, 0.0) >= 1
    assert not overlay.exists()
    assert nurse.client.get(f"/records/{record}/explanation").status_code == 410


def test_explain_refuses_anonymous_wrong_role_and_forged_forms(explaining) -> None:  # type: ignore[no-untyped-def]
    app, nurse = explaining
    record = saved_record(nurse, astronaut_jpeg(), "f.jpg")
    client = TestClient(app, base_url="http://localhost")
    anonymous = client.post(f"/records/{record}/explain", data={"csrf_token": ""}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    admin = browser_for(app, "admin").form(f"/records/{record}/explain")
    assert admin.status_code == 403 and "role does not allow" in admin.text
    forged = nurse.client.post(f"/records/{record}/explain", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and "expired or came from elsewhere" in forged.text
    assert not overlay_path(app, record).exists() and audited(app, "explain", "record", record) == 0


def test_without_a_checkpoint_the_page_says_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = scripted_app_with(tmp_path)
    nurse = browser_for(app, "nurse")
    record = saved_record(nurse, scripted_frame("pain"))
    page = nurse.client.get(f"/records/{record}")
    assert REASON in page.text and BUTTON not in page.text
    answer = nurse.form(f"/records/{record}/explain")
    assert answer.status_code == 200 and REASON in answer.text
    assert not overlay_path(app, record).exists()


def test_without_the_training_extras_the_page_says_why(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(explanations, "find_spec", lambda name: None if name == "captum" else object())
    app = scripted_app_with(tmp_path, explain_checkpoint=tmp_path / "best.pt")
    assert explanations.missing_extras() == ["captum"]
    nurse = browser_for(app, "nurse")
    page = nurse.client.get(f"/records/{saved_record(nurse, scripted_frame('pain'))}")
    assert REASON in page.text and BUTTON not in page.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"explain_checkpoint": "missing.pt"}, "The explanation could not be made: "),
        ({"explain_checkpoint": "missing.pt", "explain_timeout_seconds": 0.05}, "took longer than 0.05 s"),
    ],
    ids=["worker-fails", "timeout"],
)
def test_a_failing_worker_gives_a_clear_message_not_a_500(tmp_path, changes, message) -> None:  # type: ignore[no-untyped-def]
    changes = {**changes, "explain_checkpoint": tmp_path / str(changes["explain_checkpoint"])}
    app = scripted_app_with(tmp_path, **changes)
    nurse = browser_for(app, "nurse")
    record = saved_record(nurse, scripted_frame("pain"))
    answer = nurse.form(f"/records/{record}/explain")
    assert answer.status_code == 200, answer.text[-400:]
    alert = re.search(r'<p class="error" role="alert">([^<]*)</p>', answer.text)
    assert alert is not None and message in alert.group(1), answer.text[-800:]
    assert str(tmp_path) not in alert.group(1)  # server folders stay off the screen
    assert BUTTON in answer.text  # the nurse can try again
    assert not overlay_path(app, record).exists() and leftovers(app) == []
    assert nurse.client.get(f"/records/{record}/explanation").status_code == 404


def test_serve_takes_the_explanation_checkpoint(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from neopain.cli.apps import app as cli
    from neopain.cli.serve import _settings

    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    missing = CliRunner().invoke(cli, ["serve", "--explain-checkpoint", str(tmp_path / "nope.pt")])
    assert missing.exit_code == 2 and "explanation checkpoint not found" in missing.output
    assert _settings(explain_checkpoint=tmp_path / "a.pt").explain_checkpoint == tmp_path / "a.pt"
    monkeypatch.setenv("NEOPAIN_EXPLAIN_CHECKPOINT", str(tmp_path / "b.pt"))
    assert _settings().explain_checkpoint == tmp_path / "b.pt"
