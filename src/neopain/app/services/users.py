"""Creating accounts (CLI and admin page share this)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from neopain.app.core.security import hash_password
from neopain.app.models import User
from neopain.app.schemas import UserCreate


class UserExists(ValueError):
    """The user name is taken."""


def create_user(db: Session, spec: UserCreate) -> User:
    if db.scalar(select(User).where(User.username == spec.username)) is not None:
        raise UserExists(f"user '{spec.username}' already exists")
    user = User(username=spec.username, password_hash=hash_password(spec.password), role=spec.role)
    db.add(user)
    db.flush()
    return user


def ensure_user(db: Session, username: str, role: str, password: str | None = None) -> str | None:
    """Create ``username`` if missing; returns the password it was given (random if none), else None.

    For the demo's first login: an existing account is never touched.
    """
    if db.scalar(select(User).where(User.username == username)) is not None:
        return None
    password = password or secrets.token_urlsafe(9)
    create_user(db, UserCreate(username=username, password=password, role=role))
    return password
