"""Helpers for the app tests: a tiny real ONNX model, scripted predictors, logged-in clients, PostgreSQL."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from fastapi.testclient import TestClient

PASSWORD = "correct-horse-1"
ROLES = ("nurse", "researcher", "admin")


# ---------------------------------------------------------------- model
def build_tiny_onnx(folder: Path, synthetic: bool = True) -> Path:
    """An untrained MobileNetV2 at 64 px, saved as a training checkpoint and exported by the export stage."""
    import torch

    from neopain.export.to_onnx import export_onnx
    from neopain.models import create_model
    from neopain.pixels.preprocess import HeadConfig
    from neopain.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model(
        "mobilenet_v2", pretrained=False, input_size=64, head=HeadConfig(units=(16,), dropout=0.0)
    )
    model.eval()
    checkpoint = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": model.cfg.to_dict(),
        "optimizer": {},
        "epoch": 0,
        "phase": 1,
        "history": [],
        "manifest_hash": "test",
        "seed": 0,
    }
    ckpt = save_checkpoint(folder / "best.pt", checkpoint)
    card = {
        "name": "tiny test model",
        "datasets": ["synthetic"] if synthetic else ["icope"],
        "intended_use": "tests only",
        "synthetic": synthetic,
    }
    return export_onnx(ckpt, folder / "tiny.onnx", card=card)


def astronaut_jpeg(width: int = 480) -> bytes:
    import skimage.data

    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    image = cv2.resize(image, (width, width), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def plain_jpeg(value: int = 128, size: int = 64) -> bytes:
    return cv2.imencode(".jpg", np.full((size, size, 3), value, np.uint8))[1].tobytes()


# ---------------------------------------------------------------- scripted predictor
@dataclass
class FakeAssessment:
    status: str
    reason: str | None
    label: str | None
    probability: float | None
    confidence: float | None
    box: tuple[float, float, float, float] | None
    timings_ms: dict[str, float]
    model_id: str = "scripted-0"
    nfcs: Any = None  # an NFCS model's reading (neopain.inference.NfcsReading)


class ScriptedPredictor:
    """Answers frames from a script keyed by the frame's first bytes: lets a test choose each frame's class."""

    model_id = "scripted-0"
    synthetic = False
    card: ClassVar[dict[str, str]] = {"name": "scripted", "intended_use": "tests"}

    def __init__(self) -> None:
        self.calls = 0

    def assess_bytes(self, data: bytes, stream: str | None = None) -> FakeAssessment:
        from neopain.pixels.imageio import decode_image

        image = decode_image(data)
        self.calls += 1
        value = int(image[0, 0, 2])  # red channel of the top-left pixel encodes the scripted class
        if value < 60:
            return FakeAssessment("no_assessment", "no_face", None, None, None, None, {"total": 3.0})
        p = 0.9 if value > 180 else 0.2
        label = "pain" if p >= 0.5 else "no_pain"
        return FakeAssessment("ok", None, label, p, max(p, 1 - p), (8.0, 8.0, 40.0, 40.0), {"total": 5.0})


def scripted_frame(kind: str | None, size: int = 64) -> bytes:
    """A PNG whose class the ScriptedPredictor reads back: None (no face), 'pain' or 'no_pain'."""
    value = {None: 10, "no_pain": 120, "pain": 230}[kind]
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 2] = value
    image[1:, 1:, 0] = np.random.default_rng(value).integers(0, 255, (size - 1, size - 1))
    return cv2.imencode(".png", image)[1].tobytes()


# ---------------------------------------------------------------- clients
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Browser:
    """A TestClient logged in as one role, with its CSRF token."""

    client: TestClient
    role: str
    csrf: str = ""
    extra: dict = field(default_factory=dict)

    def form(self, url: str, data: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
        payload = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=payload, follow_redirects=False, **kwargs)

    def api(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.post(url, headers=headers, **kwargs)


def login(app, username: str, password: str = PASSWORD) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="http://localhost")
    page = client.get("/login")
    token = CSRF_FIELD.search(page.text).group(1)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def browser_for(app, role: str, username: str | None = None) -> Browser:  # type: ignore[no-untyped-def]
    client = login(app, username or f"{role}1")
    csrf = CSRF_META.search(client.get("/").text).group(1)
    return Browser(client, role, csrf)


def add_user(app, username: str, role: str) -> int:  # type: ignore[no-untyped-def]
    """A new account with PASSWORD; returns its id."""
    from neopain.app.schemas import UserCreate
    from neopain.app.services.users import create_user

    with app.state.neopain.sessions() as db:
        user = create_user(db, UserCreate(username=username, password=PASSWORD, role=role))
        db.commit()
        return user.id


def add_users(app) -> None:  # type: ignore[no-untyped-def]
    for role in ROLES:
        add_user(app, f"{role}1", role)


def fresh_browser(app, role: str) -> Browser:  # type: ignore[no-untyped-def]
    """A browser of a new account of ``role``: for requests that end sessions or change the password."""
    username = f"{role}-{os.urandom(4).hex()}"
    add_user(app, username, role)
    return browser_for(app, role, username)


def audit_rows(app, **where) -> list:  # type: ignore[no-untyped-def]
    """The app's audit rows in chain order, filtered by column values."""
    from sqlalchemy import select

    from neopain.app.models import AuditEvent

    with app.state.neopain.sessions() as db:
        statement = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            statement = statement.where(getattr(AuditEvent, key) == value)
        return list(db.scalars(statement))


def start_assessment(nurse: Browser, name: str) -> tuple[str, str]:
    """(assessment id, client token) of a new assessment of a new baby."""
    response = nurse.form("/assessments", {"new_name": name, "identifier": "bed 1"})
    assert response.status_code == 303, response.text
    camera = nurse.client.get(response.headers["location"])
    token = re.search(r'data-client-token="([^"]+)"', camera.text).group(1)
    return response.headers["location"].split("/")[2], token


def post_frame(user: Browser, assessment: str, token: str, data: bytes, frame_id: str, name: str = "f.png"):  # type: ignore[no-untyped-def]
    return user.api(
        f"/api/assessments/{assessment}/frames",
        files={"frame": (name, data, "image/png")},
        data={"frame_id": frame_id, "client_token": token},
    )


def add_observation(app, assessment: str, instrument: str = "nfcs-10", frames: int = 30) -> str:  # type: ignore[no-untyped-def]
    """An observation window of ``assessment`` recording since long ago (its end is due), as the camera's
    Observe mode leaves it: ``frames`` readings without a face. Returns its opaque id."""
    from datetime import timedelta

    from sqlalchemy import select

    from neopain.app.models import Assessment, Observation, utcnow

    with app.state.neopain.sessions() as db:
        row = db.scalar(select(Assessment).where(Assessment.public_id == assessment))
        obs = Observation(baby_id=row.baby_id, assessment_id=row.id, kind="observation", instrument=instrument,
                          status="recording", started_at=utcnow() - timedelta(minutes=5), window_start=0.0,
                          window_end=10.0, model_id="scripted-0", nfcs_version="nfcs-10",
                          timeline=[{"t": i / 3, "face": False, "p": {}} for i in range(frames)],
                          started_by=row.owner_id)
        db.add(obs)
        db.commit()
        return obs.public_id


def accept_all(instrument: str = "nfcs-10") -> dict[str, str]:
    """A decisions form that accepts every facial proposal of ``instrument`` (its entered items left out)."""
    from neopain.scales.instruments import INSTRUMENTS

    return {f"decide_{item.key}": "accept" for item in INSTRUMENTS[instrument].facial_items}


# ---------------------------------------------------------------- PostgreSQL
from neopain.app.stress.postgres import PostgresServer, free_port  # noqa: F401  (the fixtures use them)
