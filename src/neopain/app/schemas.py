"""Pydantic schemas of the JSON API: what comes in (``*In``/``*Create``) apart from what goes out (``*Public``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from neopain.app.core.settings import ROLES

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
