"""The server's secret key: keys the hashes of typed user names (failed logins, throttling).

Set ``NEOPAIN_SECRET_KEY`` when several machines serve one database; otherwise a random key is made
once in ``<data>/app/secret.key`` (mode 0600) and shared by every process on this machine.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_KEY_CHARS = 32
KEY_FILE = "secret.key"


def read_or_create_key(folder: Path) -> bytes:
    path = folder / KEY_FILE
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(f"{path}: the secret key is shorter than {MIN_KEY_CHARS} characters") from None
        return key
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def app_secret(configured: str | None, folder: Path) -> bytes:
    """The configured key, else this machine's key file."""
    return configured.encode() if configured else read_or_create_key(folder)
