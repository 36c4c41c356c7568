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


class ErrorPublic(BaseModel):
    detail: str


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=256)
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
