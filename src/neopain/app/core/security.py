"""Passwords (argon2id, policy, bounded hashing), random tokens and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Verifying against this when the user does not exist keeps login time the same for both cases.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MIN_STRENGTH = 3  # zxcvbn's score (0-4): 3 is "safely unguessable" against an offline attack
# Each argon2 hash takes ~64 MiB and tens of ms of a core: a flood of logins waits for a slot instead of
# stalling the cameras' frames. A login that waits longer than HASH_WAIT_S is answered 503.
HASH_SLOTS = 2
HASH_WAIT_S = 10.0
_SLOTS = threading.BoundedSemaphore(HASH_SLOTS)


class PasswordPolicyError(ValueError):
    """A password too weak to accept."""


class HashingBusy(RuntimeError):
    """Every password-hashing slot stayed busy: try again shortly."""


def check_password_policy(password: str, username: str = "") -> None:
    """At least 12 characters (a passphrase of words is welcome), not common, not the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters (a few words make a good one)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"password must have at most {MAX_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise PasswordPolicyError("password must not contain the user name")
    from zxcvbn import zxcvbn
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    if password.lower() in _common_passwords(tuple(FREQUENCY_LISTS["passwords"])):
        raise PasswordPolicyError("this password is on the list of common passwords")
    result = zxcvbn(password[:100], user_inputs=[username] if username else [])
    if result["score"] < MIN_STRENGTH:
        hint = result["feedback"].get("warning") or "add more words or characters"
        raise PasswordPolicyError(f"password is too easy to guess: {hint}")


@lru_cache(maxsize=1)
def _common_passwords(passwords: tuple[str, ...]) -> frozenset[str]:
    return frozenset(p.lower() for p in passwords)


class _HashSlot:
    def __enter__(self) -> None:
        if not _SLOTS.acquire(timeout=HASH_WAIT_S):
            raise HashingBusy("the server is busy checking passwords; try again in a few seconds")

    def __exit__(self, *_exc: object) -> None:
        _SLOTS.release()


def hash_password(password: str, username: str = "") -> str:
    check_password_policy(password, username)
    with _HashSlot():
        return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    with _HashSlot():
        try:
            return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def rehashed(password_hash: str, password: str) -> str | None:
    """A new hash when the stored one used older argon2 parameters (call after a successful verify)."""
    if not _HASHER.check_needs_rehash(password_hash):
        return None
    with _HashSlot():
        return _HASHER.hash(password)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def one_time_password() -> str:
    """A reset's temporary password: strong, typed once, then replaced by the user."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


def token_digest(token: str) -> str:
    """What the sessions table stores instead of the cookie's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
