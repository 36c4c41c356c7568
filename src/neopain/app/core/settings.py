"""The app's settings, read from NEOPAIN_* environment variables like the rest of neopain."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES: tuple[str, ...] = ("nurse", "researcher", "admin")
# Roles that work with patients; the admin manages accounts and the audit, never sees names or faces.
CLINICAL_ROLES: tuple[str, ...] = ("nurse", "researcher")


class AppSettings(BaseSettings):
    """Everything the server needs; every field can be set as NEOPAIN_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="NEOPAIN_", env_file=".env", extra="ignore")

    env: str = Field("development", description="development | production")
    data_dir: Path = Field(Path("data"), description="root of the app's database and images")
    db_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in <data_dir>/app")
    model_path: Path | None = Field(None, description="ONNX classifier the camera uses")
    detector: str = "yunet"
    https: bool = Field(False, description="cookies marked Secure; set when serving over TLS")
    session_idle_minutes: float = Field(15.0, gt=0, description="logout after this much inactivity")
    max_upload_bytes: int = Field(4 * 1024 * 1024, gt=0)
    max_upload_pixels: int = Field(4096 * 4096, gt=0)
    timezone: str = Field("UTC", description="IANA zone used for the charts' days and hours")

    @property
    def app_dir(self) -> Path:
        return self.data_dir / "app"

    @property
    def images_dir(self) -> Path:
        """Saved faces: outside any static folder, served only through an authenticated route."""
        return self.app_dir / "images"

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.app_dir / 'neopain.db').resolve()}"
