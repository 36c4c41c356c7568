"""The app with an NFCS model: the camera answer carries the checklist, the record keeps the model's
reading, and a clinician's coding is exported as nfcs_<action> columns (unknown stays unknown)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import numpy as np
from _appkit import ScriptedPredictor, add_users, browser_for, post_frame, scripted_frame, start_assessment
from conftest import make_settings

from neopain.app.main import create_app
from neopain.app.models import Record
from neopain.app.services.export import export_labelled
from neopain.data import read_manifest
from neopain.inference import read_nfcs
from neopain.scales.nfcs import ACTIONS
from neopain.train import nfcs_targets


class NfcsScripted(ScriptedPredictor):
    """The scripted classes plus an NFCS reading: brow bulge and eye squeeze present, chin hidden."""

    def assess_bytes(self, data: bytes, stream: str | None = None):  # type: ignore[no-untyped-def]
        result = super().assess_bytes(data)
        if result.status != "ok":
            return result
        probabilities = [0.9, 0.8] + [0.1] * (len(ACTIONS) - 2)
        reading = read_nfcs(ACTIONS, probabilities, "nfcs-10", assessable={"chin_quiver": False})
        return dataclasses.replace(result, nfcs=reading)


def _app(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path), NfcsScripted())
    add_users(app)
    return app, browser_for(app, "nurse")


def test_the_camera_answer_and_the_record_carry_the_checklist(tmp_path: Path) -> None:
    _, nurse = _app(tmp_path)
    assessment, token = start_assessment(nurse, "Checklist Baby")
    answer = post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).json()
    nfcs = answer["nfcs"]
    assert (nfcs["score"], nfcs["items_read"], nfcs["items"], nfcs["scorable"]) == (2, 9, 10, False)
    states = {a["name"]: (a["present"], a["assessable"]) for a in nfcs["actions"]}
    assert states["brow_bulge"] == (True, True) and states["chin_quiver"] == (False, False)
    page = nurse.client.get(f"/records/{answer['record_id']}").text
    assert "NFCS actions (model)" in page and "not assessable" in page and "not scorable" in page
    no_face = post_frame(nurse, assessment, token, scripted_frame(None), uuid.uuid4().hex).json()
    assert no_face["nfcs"] is None  # no face, no checklist: never a calm score


def _confirm(nurse, record_id: str, **form) -> None:  # type: ignore[no-untyped-def]
    done = nurse.form(f"/records/{record_id}/confirm", {"label": "pain", **form})
    assert done.status_code == 303, done.text


def test_coding_is_exported_and_read_back_as_training_targets(tmp_path: Path) -> None:
    app, nurse = _app(tmp_path)
    ids = []
    for k in range(4):  # one assessment each: the saving rule keeps each one's first face
        assessment, token = start_assessment(nurse, f"Coding Baby {k}")
        ids.append(post_frame(nurse, assessment, token, scripted_frame("pain"), uuid.uuid4().hex).json()["record_id"])
    _confirm(nurse, ids[0], actions=["brow_bulge", "lip_purse"])  # coded: the rest absent
    _confirm(nurse, ids[1], nfcs_coded="true")  # looked, saw none: every action absent
    _confirm(nurse, ids[2])  # label only: the actions stay unknown
    _confirm(nurse, ids[3])
    with app.state.neopain.sessions() as db:  # a record coded before lip purse joined the checklist
        legacy = db.query(Record).filter_by(public_id=ids[3]).one()
        legacy.nfcs_actions, legacy.nfcs_coded = ["eye_squeeze"], None
        db.commit()
        summary = export_labelled(db, app.state.neopain.images, tmp_path / "export")
    assert summary.exported == 4
    rows = {Path(s.path).stem: s for s in read_manifest(tmp_path / "export" / "manifest.csv")}
    first, none, unknown, old = (rows[i] for i in ids)
    assert first.actions == {a: int(a in ("brow_bulge", "lip_purse")) for a in ACTIONS} and first.nfcs_score == 2
    assert none.actions == dict.fromkeys(ACTIONS, 0) and none.nfcs_score == 0
    assert unknown.actions is None and unknown.nfcs_score is None
    assert "lip_purse" not in old.actions and old.actions["eye_squeeze"] == 1 and old.nfcs_score is None
    table = nfcs_targets([first, none, unknown, old], ACTIONS)
    assert table[0, ACTIONS.index("lip_purse")] == 1 and np.isnan(table[2]).all()
    assert np.isnan(table[3, ACTIONS.index("lip_purse")]) and table[3, ACTIONS.index("eye_squeeze")] == 1


def test_the_record_page_shows_occlusion_evidence_from_the_served_nfcs_model(tmp_path: Path) -> None:
    import cv2

    from neopain.export import export_checked
    from neopain.inference import Predictor
    from tests._export_helpers import astronaut_bgr, nfcs_checkpoint, on_canvas

    checkpoint, _ = nfcs_checkpoint(tmp_path / "model")
    model = export_checked(checkpoint, tmp_path / "model" / "nfcs.onnx").path
    app = create_app(make_settings(tmp_path / "data"), Predictor.from_files(model))
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Evidence Baby")
    frame = cv2.imencode(".jpg", on_canvas(astronaut_bgr()))[1].tobytes()
    answer = post_frame(nurse, assessment, token, frame, uuid.uuid4().hex, "f.jpg").json()
    assert answer["saved"] and len(answer["nfcs"]["actions"]) == len(ACTIONS)
    record = answer["record_id"]
    picture = nurse.client.get(f"/records/{record}/evidence/brow_bulge")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    decoded = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[0] == decoded.shape[1]  # the square face crop
    assert nurse.client.get(f"/records/{record}/evidence/frown").status_code == 404
    with app.state.neopain.sessions() as db:
        from neopain.app.models import AuditEvent

        seen = db.query(AuditEvent).filter_by(action="view", object_type="image_evidence").all()
    assert [e.object_id for e in seen] == [record]
