"""The app's settings, read from NEOPAIN_* environment variables like the rest of neopain."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from neopain.app.core.secret import MIN_KEY_CHARS
from neopain.app.core.sessions import Lifetimes
from neopain.core.config import Settings

ROLES: tuple[str, ...] = ("nurse", "researcher", "admin")
# Roles that work with patients; the admin manages accounts and the audit, never sees names or faces.
CLINICAL_ROLES: tuple[str, ...] = ("nurse", "researcher")


ENVIRONMENTS: tuple[str, ...] = ("development", "production")
# Passwords that ship as examples in docs, images and tutorials: never acceptable on a ward.
DEFAULT_PASSWORDS = frozenset(
    {"", "postgres", "password", "changeme", "change-me", "secret", "admin", "neopain"}
)


def weak_database_password(url: str | None) -> str | None:
    """A description of the default password in a server database URL, or None if it has a real one."""
    if not url:
        return None  # SQLite: a file protected by the file system, no password
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return None
    password = parsed.password or ""
    if password.lower() in DEFAULT_PASSWORDS:
        return "empty" if not password else "a well-known default"
    return None


class AppSettings(Settings):
    """The shared settings plus what only the server needs; every field can be set as NEOPAIN_<FIELD>."""

    model_path: Path | None = Field(None, description="ONNX classifier the camera uses")
    assess_lanes: int = Field(
        1, ge=1, le=16, description="frames assessed side by side in one process (each camera keeps to "
        "one lane); about one per core (docs/PERFORMANCE.md, 'One server under many cameras')"
    )
    https: bool = Field(False, description="cookies marked Secure; set when serving over TLS")
    trusted_proxies: str = Field(
        "", description="comma-separated addresses of reverse proxies that terminate TLS for the app: only "
        "their X-Forwarded-For/-Proto headers are believed; setting it marks cookies Secure"
    )
    session_idle_minutes: float = Field(15.0, gt=0, description="logout after this much inactivity")
    session_absolute_hours: float = Field(
        12.0, gt=0, description="logout this long after the login, whatever the activity (a shift)"
    )
    max_upload_bytes: int = Field(4 * 1024 * 1024, gt=0)
    max_upload_pixels: int = Field(4096 * 4096, gt=0)
    timezone: str = Field("UTC", description="IANA zone used for the charts' days and hours")
    retention_days: float = Field(
        0, ge=0, description="images older than this are purged (rows and labels stay); 0 keeps them"
    )
    retention_rows_days: float = Field(
        0, ge=0, description="babies with nothing newer than this are erased (name, rows, images); 0 keeps them"
    )
    purge_every_minutes: float = Field(60, gt=0, description="how often the server runs the purge")
    login_max_failures: int = Field(5, ge=1, description="login attempts per account (any address)...")
    login_max_per_address: int = Field(20, ge=1, description="...and per address (any account)...")
    login_window_seconds: float = Field(300, gt=0, description="...within this window before 429")
    explain_checkpoint: Path | None = Field(
        None,
        description="torch checkpoint of the served ONNX model (the one `neopain export` read); "
        "enables 'Explain this decision' when the training extras (torch, captum) are installed",
    )
    explain_timeout_seconds: float = Field(300, gt=0, description="an explanation taking longer fails")
    explain_steps: int = Field(50, ge=2, description="Integrated Gradients steps of an explanation")
    orphan_grace_minutes: float = Field(
        30, ge=0, description="an image file without a record is quarantined at start only when older "
        "than this (younger ones may belong to another server process's open transaction)"
    )
    secret_key: SecretStr | None = Field(
        None, description="keys the hashes of typed user names; default: a random key in <data>/app/secret.key"
    )
    break_glass_hours: float = Field(12, gt=0, description="how long a break-glass opens another unit's baby")
    accept_empty_database: bool = Field(
        False, description="start even though the images folder holds pictures and the database no record"
    )
    max_clip_bytes: int = Field(64 * 1024 * 1024, gt=0, description="a clip uploaded for a review")
    max_clip_seconds: float = Field(600, gt=0, description="a longer clip is refused: cut the part to review")
    baseline_seconds: float = Field(15, ge=5, le=120, description="the settled window of a baseline")
    observe_window_seconds: float | None = Field(
        None, gt=0, description="tests and demos only (refused outside development): every observation "
        "window and baseline this long instead of the instrument's own window"
    )
    observation_draft_hours: float = Field(
        24, gt=0, description="an observation recorded but not saved is deleted after this long"
    )

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> AppSettings:
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"env must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        key = self.secret_key.get_secret_value() if self.secret_key else None
        if key is not None and (len(key) < MIN_KEY_CHARS or key.lower() in DEFAULT_PASSWORDS):
            raise ValueError(f"NEOPAIN_SECRET_KEY must be a random string of at least {MIN_KEY_CHARS} characters")
        if self.env != "development" and self.observe_window_seconds is not None:
            raise ValueError("NEOPAIN_OBSERVE_WINDOW_SECONDS shortens the instruments' windows: "
                             "development only")
        if self.env != "development":
            weak = weak_database_password(self.db_url)
            if weak is not None:
                raise ValueError(
                    f"the database URL uses a default or empty password ({weak}); "
                    "set a real one in NEOPAIN_DB_URL (only env=development accepts it)"
                )
        return self

    @property
    def proxies(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def secure_cookies(self) -> bool:
        """HTTPS here, or at the trusted proxy in front."""
        return self.https or bool(self.proxies)

    @property
    def lifetimes(self) -> Lifetimes:
        return Lifetimes(timedelta(minutes=self.session_idle_minutes), timedelta(hours=self.session_absolute_hours))

    @property
    def app_dir(self) -> Path:
        return self.data_dir / "app"

    @property
    def images_dir(self) -> Path:
        """Saved faces: outside any static folder, served only through an authenticated route."""
        return self.app_dir / "images"

    @property
    def quarantine_dir(self) -> Path:
        """Image files found without a record: kept here until `neopain db purge --orphans`."""
        return self.app_dir / "quarantine"

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.app_dir / 'neopain.db').resolve()}"
