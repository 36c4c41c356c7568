"""Server-side login sessions: a random cookie token, a per-session CSRF token, logout after inactivity."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from neopain.app.core.security import new_token, token_digest, verify_password
from neopain.app.models import User, UserSession, utcnow

# Writing last_seen on every request would make each page a write; a minute of slack is harmless.
_TOUCH_EVERY = timedelta(seconds=30)


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = db.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None and user.is_active else None


def start_session(db: Session, user: User) -> tuple[str, UserSession]:
    """Returns the cookie token (shown once, never stored) and the new session row."""
    token = new_token()
    row = UserSession(token_hash=token_digest(token), user_id=user.id, csrf_token=new_token())
    db.add(row)
    db.flush()
    return token, row


def find_session(db: Session, token: str | None, idle: timedelta) -> UserSession | None:
    """The live session for a cookie token; an idle one is deleted and counts as logged out."""
    if not token:
        return None
    row = db.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > idle or not row.user.is_active:
        db.delete(row)
        db.commit()
        return None
    if now - row.last_seen_at > min(_TOUCH_EVERY, idle / 4):
        row.last_seen_at = now
        db.commit()
    return row


def end_session(db: Session, row: UserSession) -> None:
    db.execute(delete(UserSession).where(UserSession.id == row.id))
