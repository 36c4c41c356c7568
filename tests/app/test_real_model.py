"""The app with the real predictor: a tiny untrained MobileNetV2 exported to ONNX, YuNet detector."""

from __future__ import annotations

import subprocess
import sys
import uuid

from _appkit import add_users, astronaut_jpeg, browser_for, plain_jpeg, post_frame, start_assessment
from conftest import make_settings

from neopain.app.main import create_app


def test_a_face_is_assessed_and_saved_and_a_blank_frame_is_not(tmp_path, real_predictor) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path), real_predictor)
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Real Model Baby")
    face = post_frame(nurse, assessment, token, astronaut_jpeg(), uuid.uuid4().hex, "f.jpg")
    assert face.status_code == 200, face.text
    answer = face.json()
    assert answer["status"] == "ok" and answer["label"] in ("pain", "no_pain")
    assert 0.5 <= answer["confidence"] <= 1.0 and answer["processing_ms"] > 0
    assert answer["saved"] and answer["model_id"] == real_predictor.model_id
    blank = post_frame(nurse, assessment, token, plain_jpeg(), uuid.uuid4().hex, "f.jpg").json()
    assert blank["status"] == "no_assessment" and blank["reason"] and not blank["saved"]
    home = nurse.client.get("/")
    assert "Demo model trained on synthetic faces" in home.text  # the card says synthetic
    model_page = nurse.client.get("/model")
    assert real_predictor.model_id in model_page.text and "tests only" in model_page.text


def test_the_server_side_never_imports_torch() -> None:
    code = (
        "import sys, neopain.app.main, neopain.cli.serve, neopain.cli.labelled, neopain.inference.predictor;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 0
