"""Observe mode: a window started on the camera's assessment, fed by the camera's frames, ended into the
model's proposals, decided item by item by the nurse and saved with each item's source; the baby's baseline;
a clip reviewed after the fact; and the refusals (no decision, out of range, no face, too old, undecodable,
too short, another unit) that leave nothing half-saved. One browser test runs the Observe mode for real."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from _appkit import FakeAssessment, ScriptedPredictor, add_user, add_users, audit_rows, browser_for
from conftest import make_settings
from sqlalchemy import select, update

from neopain.app.main import create_app
from neopain.app.models import Assessment, BabyBaseline, Observation, Unit, User
from neopain.inference import read_nfcs
from neopain.pixels.imageio import decode_image
from neopain.pixels.videoio import write_video
from neopain.scales.nfcs import ACTIONS

FPS = 3  # the camera's rate
NO_FACE, CALM, FOLD, DEEPER, PAIN = 10, 120, 160, 190, 230  # the scripted frames' red top-left pixel
FACE_ACTIONS = ("brow_bulge", "eye_squeeze", "nasolabial_furrow")


class ObservePredictor(ScriptedPredictor):
    """An NFCS model's readings scripted by the frame: no face; calm; a nasolabial fold deep at rest (0.8);
    the same fold a little deeper (0.85); pain (brow bulge, eye squeeze, nasolabial furrow at 0.9)."""

    nfcs_version = "nfcs-10"

    def assess_bytes(self, data: bytes, stream: str | None = None) -> FakeAssessment:
        value = int(decode_image(data)[0, 0, 2])
        self.calls += 1
        if value < 60:
            return FakeAssessment("no_assessment", "no_face", None, None, None, None, {"total": 2.0})
        p = dict.fromkeys(ACTIONS, 0.1)
        if abs(value - FOLD) < 15:
            p["nasolabial_furrow"] = 0.8
        elif abs(value - DEEPER) < 15:
            p["nasolabial_furrow"] = 0.85
        elif value > 210:
            p.update(dict.fromkeys(FACE_ACTIONS, 0.9))
        pain = value > 210
        reading = read_nfcs(ACTIONS, [p[a] for a in ACTIONS], "nfcs-10")
        return FakeAssessment("ok", None, "pain" if pain else "no_pain", 0.9 if pain else 0.2, 0.8,
                              (8.0, 8.0, 40.0, 40.0), {"total": 4.0}, nfcs=reading)


def frame(value: int, size: int = 48) -> bytes:
    image = np.random.default_rng(value).integers(0, 255, (size, size, 3)).astype(np.uint8)
    image[0, 0, 2] = value
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path_factory.mktemp("observe"), max_clip_bytes=2_000_000),
                     ObservePredictor())
    add_users(app)
    return app


@pytest.fixture(scope="module")
def nurse(app):  # type: ignore[no-untyped-def]
    return browser_for(app, "nurse")


class Camera:
    """One assessment's camera page: its frames, its windows."""

    def __init__(self, nurse, name: str) -> None:  # type: ignore[no-untyped-def]
        self.nurse = nurse
        made = nurse.form("/assessments", {"new_name": name, "identifier": "bed 7"})
        assert made.status_code == 303, made.text
        page = nurse.client.get(made.headers["location"]).text
        self.assessment = made.headers["location"].split("/")[2]
        self.token = re.search(r'data-client-token="([^"]+)"', page).group(1)
        self.page = page

    def start(self, **body):  # type: ignore[no-untyped-def]
        return self.nurse.api(f"/api/assessments/{self.assessment}/observations",
                              json={"client_token": self.token, **body})

    def post(self, value: int, obs: str | None = None, t: float | None = None):  # type: ignore[no-untyped-def]
        data = {"frame_id": uuid.uuid4().hex, "client_token": self.token}
        if obs is not None:
            data |= {"observation_id": obs, **({"observation_t": str(t)} if t is not None else {})}
        return self.nurse.api(f"/api/assessments/{self.assessment}/frames",
                              files={"frame": ("f.png", frame(value), "image/png")}, data=data)

    def window(self, app, values: list[int], **body) -> dict:  # type: ignore[no-untyped-def]
        """Start a window, let its time pass (the start moved back), feed it ``values`` at FPS, end it."""
        started = self.start(**body)
        assert started.status_code == 200, started.text
        obs = started.json()
        backdate(app, obs["id"], obs["window_s"] + 1)
        for i, value in enumerate(values):
            answer = self.post(value, obs["id"], i / FPS)
            assert answer.status_code == 200 and answer.json()["observation"]["appended"], answer.text
        return end(self.nurse, obs["id"])


def backdate(app, public_id: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        obs = db.scalar(select(Observation).where(Observation.public_id == public_id))
        obs.started_at = obs.started_at - timedelta(seconds=seconds)
        db.commit()


def end(nurse, public_id: str) -> dict:  # type: ignore[no-untyped-def]
    done = nurse.api(f"/api/observations/{public_id}/end")
    assert done.status_code == 200, done.text
    return done.json()


def stored(app, public_id: str) -> Observation | None:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return db.scalar(select(Observation).where(Observation.public_id == public_id))


def decide(nurse, public_id: str, **fields: str):  # type: ignore[no-untyped-def]
    return nurse.form(f"/observations/{public_id}", fields)


PIPP_ENTERED = {"value_gestational_age": "1", "value_behavioural_state": "2", "value_heart_rate": "1",
                "value_spo2": "0"}


def test_a_window_is_proposed_then_decided_and_saved_with_each_items_source(app, nurse) -> None:  # type: ignore[no-untyped-def]
    camera = Camera(nurse, "Observe Baby")
    assert 'id="observe-start"' in camera.page and 'value="pipp-r"' in camera.page
    started = camera.start(instrument="pipp-r")
    obs = started.json()
    assert (obs["status"], obs["window_s"], obs["kind"]) == ("recording", 30.0, "observation")
    backdate(app, obs["id"], 31)
    values = [PAIN] * 45 + [CALM] * 45  # half the window: PIPP-R's 40-69 % band
    for i, value in enumerate(values):
        answer = camera.post(value, obs["id"], i / FPS).json()
        assert answer["observation"]["appended"] and answer["observation"]["frames"] == i + 1
    retried = camera.post(CALM, obs["id"], (len(values) - 1) / FPS).json()["observation"]
    assert not retried["appended"] and retried["frames"] == 90 and retried["done"]  # a retry adds nothing
    assert not camera.post(CALM, obs["id"], 30.0).json()["observation"]["appended"]  # past the window's end

    ended = end(nurse, obs["id"])
    assert ended["status"] == "proposed" and ended["scorable"] and ended["review_url"] == f"/observations/{obs['id']}"
    proposals = {p["item"]: p for p in ended["proposals"]}
    assert {k: p["value"] for k, p in proposals.items()} == dict.fromkeys(FACE_ACTIONS, 2)
    assert proposals["brow_bulge"]["reason"] == "brow bulge present in 50 % of 90 readable frames"
    page = nurse.client.get(ended["review_url"]).text
    assert "brow bulge present in 50 % of 90 readable frames" in page and 'name="decide_brow_bulge"' in page
    assert "the model proposes, the clinician decides".capitalize() in page and "<style>" not in page

    saved = decide(nurse, obs["id"], decide_brow_bulge="accept", decide_eye_squeeze="accept",
                   decide_nasolabial_furrow="change", value_nasolabial_furrow="3", **PIPP_ENTERED)
    assert saved.status_code == 303, saved.text
    row = stored(app, obs["id"])
    assert row.status == "saved" and row.total == 2 + 2 + 3 + 1 + 0 + 1 + 2
    assert row.interpretation == "mild to moderate pain" and row.pain is True and not row.retrospective
    assert sorted(row.sources("model")) == ["brow_bulge", "eye_squeeze"]
    assert row.items["nasolabial_furrow"] == {"value": 3, "source": "nurse", "proposal": 2,
                                              "reason": "nasolabial furrow present in 50 % of 90 readable frames"}
    assert row.items["heart_rate"]["source"] == "nurse" and len(row.timeline) == 90
    assert set(row.timeline[0]) == {"t", "face", "p"} and row.timeline[0]["p"]["brow_bulge"] == 0.9
    assert decide(nurse, obs["id"], **PIPP_ENTERED).status_code == 409  # saved once, never again
    profile = nurse.client.get(f"/babies/{row.baby.public_id}").text
    assert "11 (mild to moderate pain)" in profile
    assert 'id="scores-pipp-r"' in profile and "model: brow bulge, eye squeeze" in profile
    actions = [(e.action, e.object_type) for e in audit_rows(app, object_id=obs["id"])]
    assert actions == [("create", "observation"), ("score", "observation"), ("view", "observation"),
                       ("save", "observation")]  # frames are not audited one by one, as on the camera


@pytest.fixture
def proposed(app, nurse) -> str:  # type: ignore[no-untyped-def]
    """A PIPP-R window ended with its proposals, not decided yet."""
    camera = Camera(nurse, "Decision Baby")
    return camera.window(app, [PAIN] * 30 + [CALM] * 60, instrument="pipp-r")["id"]


def test_a_save_without_an_explicit_decision_is_refused(app, nurse, proposed: str) -> None:  # type: ignore[no-untyped-def]
    refused = decide(nurse, proposed, decide_brow_bulge="accept", decide_nasolabial_furrow="accept", **PIPP_ENTERED)
    assert refused.status_code == 422
    assert "eye squeeze: accept the model&#39;s proposal or change it (nothing is accepted for you)" in refused.text
    changed_without_value = decide(nurse, proposed, decide_brow_bulge="accept", decide_eye_squeeze="change",
                                   decide_nasolabial_furrow="accept", **PIPP_ENTERED)
    assert changed_without_value.status_code == 422 and "choose the value you observed" in changed_without_value.text
    row = stored(app, proposed)
    assert row.status == "proposed" and row.items is None and row.total is None
    assert not audit_rows(app, object_id=proposed, action="save")


def test_an_item_out_of_range_is_refused_naming_it(app, nurse, proposed: str) -> None:  # type: ignore[no-untyped-def]
    accepted = {f"decide_{k}": "accept" for k in FACE_ACTIONS}
    high = decide(nurse, proposed, **accepted, **(PIPP_ENTERED | {"value_heart_rate": "7"}))
    assert high.status_code == 422 and "item &#39;heart_rate&#39; = 7 is out of range; allowed: 0, 1, 2, 3" in high.text
    facial = decide(nurse, proposed, **(accepted | {"decide_brow_bulge": "change", "value_brow_bulge": "9"}),
                    **PIPP_ENTERED)
    assert facial.status_code == 422 and "item &#39;brow_bulge&#39; = 9 is out of range" in facial.text
    word = decide(nurse, proposed, **accepted, **(PIPP_ENTERED | {"value_spo2": "two"}))
    assert word.status_code == 422 and "item &#39;spo2&#39; = &#39;two&#39; is not a whole number" in word.text
    row = stored(app, proposed)
    assert row.status == "proposed" and row.items is None
    partial = decide(nurse, proposed, **accepted, value_gestational_age="2")  # the other entered items unknown
    assert partial.status_code == 303
    row = stored(app, proposed)
    assert row.total is None and row.missing == ["behavioural_state", "heart_rate", "spo2"]


def test_frames_without_a_face_are_not_scorable_and_get_no_total(app, nurse) -> None:  # type: ignore[no-untyped-def]
    camera = Camera(nurse, "No Face Baby")
    ended = camera.window(app, [NO_FACE] * 30, instrument="nfcs-10")
    assert ended["scorable"] is False and all(p["value"] is None for p in ended["proposals"])
    assert ended["proposals"][0]["reason"] == "brow bulge not scorable: 0 of 30 frames readable"
    page = nurse.client.get(ended["review_url"]).text
    assert 'id="not-scorable"' in page
    assert decide(nurse, ended["id"], **{f"decide_{a}": "accept" for a in ACTIONS}).status_code == 303
    row = stored(app, ended["id"])
    assert row.total is None and row.scorable is False and row.sources("model") == list(ACTIONS)
    assert "not scorable" in nurse.client.get(f"/babies/{row.baby.public_id}").text
    # The nurse who saw the face herself enters the items: then they are hers, and there is a total.
    again = camera.window(app, [NO_FACE] * 30, instrument="nfcs-10")
    mine = {f"decide_{a}": "change" for a in ACTIONS} | {f"value_{a}": "0" for a in ACTIONS}
    assert decide(nurse, again["id"], **(mine | {"value_brow_bulge": "1"})).status_code == 303
    row = stored(app, again["id"])
    assert row.total == 1 and row.sources("nurse") == list(ACTIONS) and row.items["brow_bulge"]["proposal"] is None


def _baselines(app, baby_public_id: str) -> list[BabyBaseline]:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return list(db.scalars(select(BabyBaseline).join(BabyBaseline.baby)
                               .where(BabyBaseline.baby.has(public_id=baby_public_id)).order_by(BabyBaseline.id)))


def _baby_of(app, assessment: str) -> str:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return db.scalar(select(Assessment).where(Assessment.public_id == assessment)).baby.public_id


def test_a_baseline_is_recorded_used_replaced_and_refused_when_too_old(app, nurse) -> None:  # type: ignore[no-untyped-def]
    camera = Camera(nurse, "Baseline Baby")
    baby = _baby_of(app, camera.assessment)
    early = camera.start(kind="baseline").json()
    assert early["window_s"] == 15.0
    too_soon = nurse.api(f"/api/observations/{early['id']}/end")
    assert too_soon.status_code == 409 and "not over yet" in too_soon.json()["detail"]
    recorded = camera.window(app, [FOLD] * 45, kind="baseline")  # a fold deep at rest, nothing else
    assert recorded["status"] == "recorded" and recorded["message"] == "Baseline recorded from 45 face frames."
    (first,) = _baselines(app, baby)
    assert first.replaced_at is None and first.means["nasolabial_furrow"] == pytest.approx(0.8)
    assert stored(app, early["id"]) is None  # the buffers of baseline windows are not kept

    deeper = [DEEPER] * 30
    plain = camera.window(app, deeper, instrument="nfcs-10")
    against = camera.window(app, deeper, instrument="nfcs-10", with_baseline=True)
    value = {p["item"]: p["value"] for p in plain["proposals"]}["nasolabial_furrow"]
    relative = {p["item"]: p["value"] for p in against["proposals"]}["nasolabial_furrow"]
    assert (value, relative) == (1, 0)  # 0.85 is a furrow, but not for a baby whose fold is 0.8 at rest
    assert stored(app, against["id"]).baseline_id == first.id

    camera.window(app, [CALM] * 45, kind="baseline")
    old, new = _baselines(app, baby)
    assert old.replaced_at is not None and new.replaced_at is None
    assert "Baseline" in nurse.client.get(f"/babies/{baby}").text and "face frames" in nurse.client.get(
        f"/babies/{baby}").text
    unsettled = camera.start(kind="baseline").json()
    backdate(app, unsettled["id"], 16)
    for i in range(45):
        camera.post(PAIN, unsettled["id"], i / FPS)
    refused = nurse.api(f"/api/observations/{unsettled['id']}/end")
    assert refused.status_code == 422 and "not settled" in refused.json()["detail"]
    assert len(_baselines(app, baby)) == 2 and stored(app, unsettled["id"]) is None

    with app.state.neopain.sessions() as db:
        db.execute(update(BabyBaseline).where(BabyBaseline.id == new.id)
                   .values(recorded_at=new.recorded_at - timedelta(hours=25)))
        db.commit()
    stale = camera.start(instrument="nfcs-10", with_baseline=True)
    assert stale.status_code == 422 and "older than the 24 h limit" in stale.json()["detail"]
    assert "older than 24 h" in nurse.client.get(f"/babies/{baby}").text
    with app.state.neopain.sessions() as db:
        assert db.scalar(select(Observation).where(Observation.status == "recording",
                                                   Observation.baby.has(public_id=baby))) is None


def test_unsaved_windows_expire_and_erasing_the_baby_leaves_no_observation_or_baseline(app, nurse) -> None:  # type: ignore[no-untyped-def]
    from neopain.app.services.retention import delete_baby, purge_drafts

    camera = Camera(nurse, "Erased Baby")
    baby = _baby_of(app, camera.assessment)
    camera.window(app, [CALM] * 45, kind="baseline")
    kept = camera.window(app, [CALM] * 30, instrument="nfcs-10")
    assert decide(nurse, kept["id"], **{f"decide_{a}": "accept" for a in ACTIONS}).status_code == 303
    left = camera.window(app, [CALM] * 30, instrument="nfcs-10")  # ended, never decided
    backdate(app, left["id"], 25 * 3600)
    assert purge_drafts(app.state.neopain.sessions, hours=24) == 1
    assert stored(app, left["id"]) is None and stored(app, kept["id"]).status == "saved"
    with app.state.neopain.sessions() as db:
        from neopain.app.services.babies import baby_by_public_id

        delete_baby(db, app.state.neopain.images, baby_by_public_id(db, baby), None)
    assert stored(app, kept["id"]) is None and not _baselines(app, baby)


def _upload(nurse, baby: str, data: bytes, name: str = "clip.avi", **fields: str):  # type: ignore[no-untyped-def]
    return nurse.client.post(f"/babies/{baby}/review", data={"csrf_token": nurse.csrf, "instrument": "nfcs-10",
                                                            **fields},
                             files={"clip": (name, data, "video/x-msvideo")}, follow_redirects=False)


def _observation_count(app) -> int:  # type: ignore[no-untyped-def]
    with app.state.neopain.sessions() as db:
        return len(list(db.scalars(select(Observation.id))))


def _clip(path: Path, seconds: float, fps: int = 5, value: int = CALM) -> bytes:
    frames = [np.full((48, 48, 3), value, np.uint8) for _ in range(round(seconds * fps))]
    return write_video(path, frames, fps).read_bytes()


def test_a_clip_that_cannot_be_scored_is_refused_and_nothing_is_saved(app, nurse, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    baby = _baby_of(app, Camera(nurse, "Clip Baby").assessment)
    assert 'enctype="multipart/form-data"' in nurse.client.get(f"/babies/{baby}/review").text
    before = _observation_count(app)
    garbage = _upload(nurse, baby, b"RIFF not really a video" * 50)
    assert garbage.status_code == 422 and "the clip cannot be used" in garbage.text
    assert str(app.state.neopain.settings.app_dir) not in garbage.text  # no server path in the message
    short = _upload(nurse, baby, _clip(tmp_path / "short.avi", 4))
    assert short.status_code == 422 and "shorter than one nfcs-10 window (10 s): nothing to score" in short.text
    past = _upload(nurse, baby, _clip(tmp_path / "one.avi", 12), window="2")
    assert past.status_code == 422 and "window 2 is past its end" in past.text
    assert _upload(nurse, baby, b"").status_code == 422
    assert _upload(nurse, baby, b"x" * 2_000_001).status_code == 413
    real = cv2.VideoCapture

    class NoRate:  # a container that states no frame rate (as tests/test_videoio.py makes one)
        def __init__(self, name: str) -> None:
            self.capture = real(name)

        def get(self, prop: int) -> float:
            return 0.0 if prop == cv2.CAP_PROP_FPS else self.capture.get(prop)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(self.capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", NoRate)
    no_rate = _upload(nurse, baby, _clip(tmp_path / "rate.avi", 12))
    assert no_rate.status_code == 422 and "no usable frame rate" in no_rate.text
    assert _observation_count(app) == before
    assert not list((app.state.neopain.settings.app_dir / "tmp").iterdir())  # every temporary clip deleted


def test_a_synthetic_clip_is_reviewed_after_the_fact(nfcs_onnx: Path, tmp_path: Path) -> None:
    """A clip written from ``neopain.data.synthesize`` faces, scored with the served (real, tiny) NFCS model
    and YuNet: the proposals page, saved as a retrospective observation, the clip itself not kept."""
    from neopain.data import synthesize
    from neopain.inference import Predictor
    from neopain.pixels.imageio import read_image

    predictor = Predictor.from_files(nfcs_onnx)
    manifest = synthesize(tmp_path / "synth", subjects=2, images_per_subject=4, seed=0, size=192)
    faces = [image for image in (read_image(p) for p in sorted((manifest.parent / "images").glob("*.png")))
             if predictor.assess(image).ok]
    assert faces, "the synthetic faces should be read"
    frames = [faces[(i // 7) % len(faces)] for i in range(12 * 10)]  # 12 s at 10 frames/s, a face each 0.7 s
    clip = write_video(tmp_path / "clip.avi", frames, 10).read_bytes()
    app = create_app(make_settings(tmp_path / "data"), predictor)
    add_users(app)
    nurse = browser_for(app, "nurse")
    baby = _baby_of(app, Camera(nurse, "Clip Review Baby").assessment)
    answer = _upload(nurse, baby, clip)
    assert answer.status_code == 303, answer.text
    public_id = answer.headers["location"].rsplit("/", 1)[-1]
    page = nurse.client.get(answer.headers["location"]).text
    assert "of a recorded clip (retrospective review)" in page and "readable frames" in page
    row = stored(app, public_id)
    assert row.retrospective and row.assessment_id is None and row.status == "proposed" and row.scorable
    assert (row.window_start, row.window_end) == (0.0, 10.0) and sum(e["face"] for e in row.timeline) >= 50
    assert all(p["value"] is not None for p in row.proposals.values())
    assert decide(nurse, public_id, **{f"decide_{a}": "accept" for a in ACTIONS}).status_code == 303
    row = stored(app, public_id)
    assert row.total == sum(p["value"] for p in row.proposals.values()) and row.sources("model") == list(ACTIONS)
    assert [e.action for e in audit_rows(app, object_id=public_id)] == ["upload", "view", "save"]
    assert not list((app.state.neopain.settings.app_dir / "tmp").iterdir())


def test_another_units_nurse_can_neither_observe_nor_review(app, nurse) -> None:  # type: ignore[no-untyped-def]
    camera = Camera(nurse, "Unit Baby")
    baby = _baby_of(app, camera.assessment)
    window = camera.window(app, [CALM] * 30, instrument="nfcs-10")
    user_id = add_user(app, "far-nurse", "nurse")
    with app.state.neopain.sessions() as db:
        other = Unit(name="NICU far away")
        db.add(other)
        db.get(User, user_id).units = [other]
        db.commit()
    stranger = browser_for(app, "nurse", "far-nurse")
    assert stranger.api(f"/api/assessments/{camera.assessment}/observations",
                        json={"client_token": camera.token, "instrument": "nfcs-10"}).status_code == 403
    assert stranger.api(f"/api/observations/{window['id']}/end").status_code == 403
    assert stranger.client.get(f"/observations/{window['id']}").status_code == 403
    assert stranger.form(f"/observations/{window['id']}", {"decide_brow_bulge": "accept"}).status_code == 403
    assert stranger.client.get(f"/babies/{baby}/review").status_code == 403
    assert _upload(stranger, baby, b"whatever").status_code == 403
    assert stored(app, window["id"]).status == "proposed"


def test_the_shortened_window_is_for_development_only(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from neopain.app.core.settings import AppSettings

    with pytest.raises(ValidationError, match="development only"):
        AppSettings(data_dir=tmp_path, env="production", observe_window_seconds=3, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def nfcs_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The NFCS tests' tiny model (a few training steps on cue faces), exported as the server serves it."""
    from neopain.export import export_checked
    from tests._export_helpers import nfcs_checkpoint

    folder = tmp_path_factory.mktemp("nfcs-model")
    checkpoint, _ = nfcs_checkpoint(folder)
    return export_checked(checkpoint, folder / "nfcs.onnx").path


def test_the_observe_mode_runs_a_window_in_the_browser_to_the_proposals(nfcs_onnx: Path, tmp_path: Path) -> None:
    """Real Chromium, the fake camera on the astronaut, a 4-s window (the development setting): the countdown
    runs, the window ends by itself, the proposals page opens, each item is accepted, the profile lists it."""
    from _appkit import PASSWORD, free_port
    from _e2e_kit import CHROMIUM, Server, chromium_args, face_then_blank_video, run_cli, server_env
    from playwright.sync_api import sync_playwright

    out = Path(__file__).resolve().parents[2] / "test-output" / "app"
    out.mkdir(parents=True, exist_ok=True)
    env = {**server_env(tmp_path / "data"), "NEOPAIN_OBSERVE_WINDOW_SECONDS": "4"}
    made = run_cli(["users", "create", "--username", "obs1", "--role", "nurse"],
                   {**env, "NEOPAIN_NEW_PASSWORD": PASSWORD})
    assert made.returncode == 0, made.stderr
    port = free_port()
    server = Server(["--model", str(nfcs_onnx), "--port", str(port)], env, f"http://127.0.0.1:{port}")
    video = face_then_blank_video(tmp_path / "camera.y4m", face_frames=60, blank_frames=5)
    try:
        server.wait_ready()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(video))
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.goto(f"{server.url}/login")
            page.fill("input[name=username]", "obs1")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/")
            page.goto(f"{server.url}/assessments/new")
            page.fill("#baby-name", "Observe Browser Baby")
            page.fill("#baby-identifier", "Bed 2")
            page.click("text=Start camera with a new baby")
            page.wait_for_selector("#oval.oval-ok, #oval.oval-no", timeout=40_000)
            page.select_option("#observe-instrument", "nfcs-10")
            page.click("#observe-start")
            page.wait_for_selector("#observe-run:not([hidden]) #observe-countdown:has-text(' s')", timeout=10_000)
            page.screenshot(path=str(out / "12-observe-window.png"), full_page=True)
            page.wait_for_url(re.compile(r".*/observations/[^/?]+$"), timeout=40_000)
            assert page.locator("#decisions fieldset.item").count() == len(ACTIONS)
            assert "readable frames" in page.text_content("#decisions")
            page.screenshot(path=str(out / "13-observe-proposals.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            for action in ACTIONS:
                page.check(f"input[name=decide_{action}][value=accept]")
            page.click("text=Save the observation")
            page.wait_for_selector("text=Saved.")
            assert page.locator("#items tr[data-source=model]").count() == len(ACTIONS)
            page.click("text=Observe Browser Baby")
            page.wait_for_selector("#observations .obs-row")
            assert "NFCS-10" in page.text_content("#observations")
            browser.close()
    finally:
        server.stop()
    assert "Observe Browser Baby" not in server.log.read_text()
