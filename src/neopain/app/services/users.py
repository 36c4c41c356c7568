"""Accounts: create, disable and enable, reset and change passwords, change roles (CLI and admin pages).

Each function adds its audit row to the caller's transaction; ``actor`` is None for the command line.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.core.security import hash_password, one_time_password, verify_password
from neopain.app.core.sessions import end_user_sessions
from neopain.app.core.settings import CLINICAL_ROLES, ROLES
from neopain.app.models import Unit, User, utcnow
from neopain.app.schemas import UserCreate
from neopain.app.services.access import default_units


class UserExists(ValueError):
    """The user name is taken."""


class AccountError(ValueError):
    """An account change that cannot be made (unknown user, unknown role, the last admin...)."""


def create_user(db: Session, spec: UserCreate, actor: User | None = None, units: list[Unit] | None = None) -> User:
    """A new account; a clinician joins ``units`` (by default the only unit of a single-ward install)."""
    if db.scalar(select(User).where(User.username == spec.username)) is not None:
        raise UserExists(f"user '{spec.username}' already exists")
    user = User(username=spec.username, password_hash=hash_password(spec.password, spec.username), role=spec.role,
                password_changed_at=utcnow())
    if spec.role in CLINICAL_ROLES:
        user.units = list(units) if units is not None else default_units(db)
    db.add(user)
    db.flush()
    audit(db, actor, "create", "user", user.username,
          detail={"role": user.role, "units": ",".join(u.name for u in user.units)})
    return user


def set_units(db: Session, user: User, units: list[Unit], actor: User | None = None) -> None:
    """The units whose babies the user sees (the admin has none: the role gives no baby's data)."""
    if user.role not in CLINICAL_ROLES and units:
        raise AccountError("only nurses and researchers belong to units")
    old = ",".join(u.name for u in user.units)
    user.units = list(units)
    audit(db, actor, "change_units", "user", user.username,
          detail={"old": old, "new": ",".join(u.name for u in user.units)})


def user_by_name(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user '{username}'")
    return user


def _active_admins(db: Session) -> int:
    return len(list(db.scalars(select(User.id).where(User.role == "admin", User.is_active.is_(True)))))


def _keep_an_admin(db: Session, user: User) -> None:
    if user.role == "admin" and user.is_active and _active_admins(db) <= 1:
        raise AccountError(f"'{user.username}' is the last active admin; make another admin first")


def set_active(db: Session, user: User, active: bool, actor: User | None = None) -> int:
    """Disable (its sessions end at once) or re-enable an account; returns the sessions ended."""
    if not active:
        _keep_an_admin(db, user)
    user.is_active = active
    ended = 0 if active else end_user_sessions(db, user)
    audit(db, actor, "enable" if active else "disable", "user", user.username, detail={"sessions_ended": ended})
    return ended


def set_role(db: Session, user: User, role: str, actor: User | None = None) -> None:
    """A new role takes effect on the next request; the user's sessions end so no page shows the old one."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if role != "admin":
        _keep_an_admin(db, user)
    old, user.role = user.role, role
    end_user_sessions(db, user)
    audit(db, actor, "change_role", "user", user.username, detail={"old": old, "new": role})


def reset_password(db: Session, user: User, actor: User | None = None) -> str:
    """A one-time password (shown once) that must be changed at the next login; sessions end."""
    password = one_time_password()
    user.password_hash = hash_password(password, user.username)
    user.must_change_password = True
    user.password_changed_at = utcnow()
    ended = end_user_sessions(db, user)
    audit(db, actor, "reset_password", "user", user.username, detail={"sessions_ended": ended})
    return password


def log_out_everywhere(db: Session, user: User, actor: User | None = None) -> int:
    """End every session of ``user`` (a lost phone, a shared tablet); returns how many ended."""
    ended = end_user_sessions(db, user)
    audit(db, actor, "logout_everywhere", "user", user.username, detail={"sessions_ended": ended})
    return ended


def all_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.username)))


def change_password(db: Session, user: User, current: str, new: str) -> None:
    """The user's own change: the current password first; a new one that passes the policy and differs."""
    if not verify_password(user.password_hash, current):
        raise AccountError("the current password is not right")
    if secrets.compare_digest(current.encode(), new.encode()):
        raise AccountError("choose a password other than the current one")
    user.password_hash = hash_password(new, user.username)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    audit(db, user, "change_password", "user", user.username)


def ensure_user(db: Session, username: str, role: str, password: str | None = None) -> str | None:
    """Create ``username`` if missing; returns the password it was given (random if none), else None.

    For the demo's first login: an existing account is never touched.
    """
    if db.scalar(select(User).where(User.username == username)) is not None:
        return None
    password = password or one_time_password()
    create_user(db, UserCreate(username=username, password=password, role=role))
    return password
