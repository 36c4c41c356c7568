"""Pydantic schemas of the JSON API: what comes in (``*In``/``*Create``) apart from what goes out (``*Public``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from neopain.app.core.settings import ROLES
from neopain.scales.instruments import INSTRUMENTS

FRAME_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class BabySearchIn(BaseModel):
    q: str = Field("", max_length=120, description="part of a baby's name; sent in the body, never in a URL")


class BabyPublic(BaseModel):
    id: str = Field(description="opaque id used in URLs")
    name: str
    identifier: str = Field(description="bed or record number, shown beside the name")
    unit: str


class ActionPublic(BaseModel):
    name: str
    probability: float
    present: bool
    assessable: bool


class NfcsPublic(BaseModel):
    """An NFCS model's checklist for the frame: each action, and the score over the items it could read."""

    version: str
    score: int
    items_read: int
    items: int
    scorable: bool
    actions: list[ActionPublic]


def nfcs_public(reading: dict | None) -> NfcsPublic | None:
    """From ``NfcsReading.to_dict()`` (as stored on a record); None for a pain-only model."""
    if not reading:
        return None
    actions = [ActionPublic(name=name, **values) for name, values in reading["actions"].items()]
    return NfcsPublic(version=reading["version"], score=reading["score"], items_read=reading["items_read"],
                      items=reading["items"], scorable=reading["scorable"], actions=actions)


class ObservationProgress(BaseModel):
    """What a frame did to the observation window it was sent for."""

    id: str
    appended: bool = Field(description="the frame's reading joined the window (not early, late or repeated)")
    frames: int = Field(description="readings in the window so far")
    faces: int = Field(description="of which with a face")
    remaining_s: float = Field(description="seconds left by the server's clock")
    done: bool = Field(description="the window is over: end it")


class FramePublic(BaseModel):
    """The answer to one camera frame."""

    frame_id: str
    status: Literal["ok", "no_assessment"]
    reason: str | None = None
    label: Literal["pain", "no_pain"] | None = None
    probability: float | None = Field(None, description="P(pain)")
    confidence: float | None = None
    processing_ms: float
    model_id: str
    box: list[float] | None = None
    saved: bool = Field(description="this frame is (or already was) a saved record")
    record_id: str | None = None
    replay: bool = Field(False, description="a retried frame id: the earlier answer, nothing saved twice")
    nfcs: NfcsPublic | None = Field(None, description="an NFCS model's actions and score; None otherwise")
    observation: ObservationProgress | None = Field(None, description="the observation window this frame fed")


INSTRUMENT_NAMES = tuple(INSTRUMENTS)


class ObservationStartIn(BaseModel):
    kind: Literal["observation", "baseline"] = "observation"
    instrument: Literal[INSTRUMENT_NAMES] | None = Field(  # type: ignore[valid-type]
        None, description="the instrument of an observation window (none for a baseline)"
    )
    with_baseline: bool = Field(False, description="code the actions against the baby's baseline")
    client_token: str = Field(min_length=1, max_length=64, description="the camera page holding it")


class ProposalPublic(BaseModel):
    item: str
    label: str
    value: int | None = Field(description="the model's proposal; None when not scorable")
    anchor: str | None = Field(description="the proposed value's anchor text")
    reason: str


class ObservationPublic(BaseModel):
    """An observation window (or a baseline being recorded) and, once ended, the model's proposals."""

    id: str
    kind: Literal["observation", "baseline"]
    instrument: str | None
    title: str
    window_s: float
    status: Literal["recording", "proposed", "saved", "recorded"]
    frames: int
    faces: int
    scorable: bool | None = None
    proposals: list[ProposalPublic] = Field(default_factory=list)
    review_url: str | None = Field(None, description="the page where the nurse decides each item")
    message: str | None = None


class ErrorPublic(BaseModel):
    detail: str


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=1, max_length=256, description="checked by the password policy")
    role: str

    @field_validator("username")
    @classmethod
    def _plain_username(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError("use letters, digits, '.', '_' or '-'")
        return value

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        return value
