"""Server-side login sessions: a random cookie token, a per-session CSRF token, an idle and an absolute
lifetime (a shift), and the ways an admin ends them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from neopain.app.core.security import new_token, rehashed, token_digest, verify_password
from neopain.app.models import User, UserSession, utcnow

# Writing last_seen on every request would make each page a write; a minute of slack is harmless.
_TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active user with this password; upgrades the stored hash when argon2's parameters changed."""
    user = db.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if not (ok and user is not None and user.is_active):
        return None
    upgraded = rehashed(user.password_hash, password)
    if upgraded is not None:
        user.password_hash = upgraded
    return user


def start_session(db: Session, user: User, client: str = "") -> tuple[str, UserSession]:
    """Returns the cookie token (shown once, never stored) and the new session row."""
    token = new_token()
    row = UserSession(token_hash=token_digest(token), user_id=user.id, csrf_token=new_token(), client=client[:64])
    db.add(row)
    db.flush()
    return token, row


def expired(row: UserSession, lifetimes: Lifetimes) -> bool:
    now = utcnow()
    return now - row.last_seen_at > lifetimes.idle or now - row.created_at > lifetimes.absolute


def find_session(db: Session, token: str | None, lifetimes: Lifetimes) -> UserSession | None:
    """The live session for a cookie token; an expired one is deleted and counts as logged out.

    The absolute lifetime counts from the login: activity (camera frames included) never extends it.
    """
    if not token:
        return None
    row = db.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if row is None:
        return None
    if expired(row, lifetimes) or not row.user.is_active:
        db.delete(row)
        db.commit()
        return None
    now = utcnow()
    if now - row.last_seen_at > min(_TOUCH_EVERY, lifetimes.idle / 4):
        row.last_seen_at = now
        db.commit()
    return row


def end_session(db: Session, row: UserSession) -> None:
    db.execute(delete(UserSession).where(UserSession.id == row.id))


def end_user_sessions(db: Session, user: User) -> int:
    """Log ``user`` out everywhere; returns how many sessions ended."""
    return int(db.execute(delete(UserSession).where(UserSession.user_id == user.id)).rowcount or 0)


def user_sessions(db: Session, user: User) -> list[UserSession]:
    return list(db.scalars(select(UserSession).where(UserSession.user_id == user.id)
                           .order_by(UserSession.created_at.desc())))


def delete_expired_sessions(db: Session, lifetimes: Lifetimes) -> int:
    now = utcnow()
    gone = db.execute(
        delete(UserSession).where(
            or_(UserSession.last_seen_at < now - lifetimes.idle, UserSession.created_at < now - lifetimes.absolute)
        )
    ).rowcount
    return int(gone or 0)
