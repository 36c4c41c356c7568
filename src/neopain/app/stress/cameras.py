"""Simulated phone cameras (asyncio + httpx): log in, start assessments, post frames, retry like a phone."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from dataclasses import dataclass, field

import httpx

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
CLIENT_TOKEN = re.compile(r'data-client-token="([^"]+)"')
# What a dead or restarting server looks like from a phone: the frame is pending, to be retried.
TRANSIENT = (httpx.TransportError,)


class CameraError(RuntimeError):
    """An answer that is neither success nor a transient network failure."""


@dataclass
class Ledger:
    """What the cameras were told: every acknowledged frame and every acknowledged record."""

    sent: int = 0
    resent: int = 0  # frames sent again with the same id
    acked: dict[str, dict] = field(default_factory=dict)  # frame id -> first answer
    records: dict[str, str] = field(default_factory=dict)  # frame id -> record id acknowledged
    replays: int = 0
    mismatched_replays: int = 0  # a retry answered with another record than the first time
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    assessments: set[str] = field(default_factory=set)

    def acknowledge(self, frame_id: str, answer: dict, latency_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        first = self.acked.setdefault(frame_id, answer)
        if answer.get("replay"):
            self.replays += 1
            if first.get("record_id") not in (None, answer.get("record_id")):
                self.mismatched_replays += 1
        if answer.get("saved") and answer.get("record_id"):
            self.records.setdefault(frame_id, answer["record_id"])


@dataclass
class Camera:
    """One phone: its own login (cookie + CSRF token), its assessment, its frame ids."""

    base_url: str
    username: str
    password: str
    ledger: Ledger
    timeout_s: float = 15.0
    client: httpx.AsyncClient | None = None
    csrf: str = ""
    assessment: str = ""
    token: str = ""

    async def open(self) -> Camera:
        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s)
        page = await self.client.get("/login")
        form = {"username": self.username, "password": self.password}
        form["csrf_token"] = _match(CSRF_FIELD, page.text, "login form")
        answer = await self.client.post("/login", data=form)
        if answer.status_code not in (200, 303):
            raise CameraError(f"login failed with {answer.status_code}")
        self.csrf = _match(CSRF_META, (await self.client.get("/")).text, "home page")
        return self

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def start_assessment(self, name: str) -> None:
        assert self.client is not None
        started = await self.client.post(
            "/assessments", data={"csrf_token": self.csrf, "new_name": name, "identifier": "bed 1"},
            follow_redirects=False,
        )
        if started.status_code != 303:
            raise CameraError(f"starting an assessment answered {started.status_code}")
        location = started.headers["location"]
        camera = await self.client.get(location)
        self.assessment = location.split("/")[2]
        self.token = _match(CLIENT_TOKEN, camera.text, "camera page")
        self.ledger.assessments.add(self.assessment)

    async def send(self, data: bytes, frame_id: str) -> dict:
        """Post one frame; raises a TRANSIENT error when the server is gone (the caller retries later)."""
        assert self.client is not None
        self.ledger.sent += 1
        began = time.perf_counter()
        response = await self.client.post(
            f"/api/assessments/{self.assessment}/frames",
            headers={"X-CSRF-Token": self.csrf},
            files={"frame": ("frame.jpg", data, "image/jpeg")},
            data={"frame_id": frame_id, "client_token": self.token},
        )
        latency = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise CameraError(f"frame answered {response.status_code}: {response.text[:200]}")
        answer = response.json()
        self.ledger.acknowledge(frame_id, answer, latency)
        return answer


def _match(pattern: re.Pattern[str], text: str, where: str) -> str:
    found = pattern.search(text)
    if found is None:
        raise CameraError(f"no token found in the {where}")
    return found.group(1)


@dataclass(frozen=True)
class Script:
    """What a camera sends: frames, a new assessment every ``per_assessment`` frames, some retries."""

    face: bytes
    no_face: bytes
    per_assessment: int = 6
    retry_rate: float = 0.1
    seed: int = 0
    # Phones picked up one by one are not in step: each camera starts at its own (seeded) moment of the
    # frame interval. ``lockstep`` starts them all at once, so every interval begins with a burst of all.
    lockstep: bool = False

    def frame(self, index: int) -> bytes:
        # Mostly faces (each new assessment saves its first face), some frames without one.
        return self.no_face if index % 4 == 3 else self.face


async def run_camera(
    camera: Camera, script: Script, fps: float, duration_s: float, camera_index: int
) -> None:
    """Post frames at ``fps`` for ``duration_s``; bounded by the duration and the frame count."""
    rng = random.Random(script.seed * 1000 + camera_index)
    n_frames = max(1, int(fps * duration_s))
    phase = 0.0 if script.lockstep else random.Random(f"phase {script.seed} {camera_index}").random() / fps
    await asyncio.sleep(phase)
    began = time.perf_counter()
    for index in range(n_frames):
        if index % script.per_assessment == 0:
            await camera.start_assessment(f"load camera {camera_index} assessment {index}")
        data, frame_id = script.frame(index), uuid.uuid4().hex
        await camera.send(data, frame_id)
        if rng.random() < script.retry_rate:
            # camera.js resends the same frame (same id) when it never saw the answer, before the next.
            camera.ledger.resent += 1
            await camera.send(data, frame_id)
        delay = began + (index + 1) / fps - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
