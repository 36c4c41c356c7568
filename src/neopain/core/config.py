"""One settings object for every stage, read from NEOPAIN_* environment variables or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache() -> Path:
    return Path.home() / ".cache" / "neopain"


class Settings(BaseSettings):
    """Runtime settings; every field can be set as NEOPAIN_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="NEOPAIN_", env_file=".env", extra="ignore")

    env: str = Field("development", description="development | production")
    data_dir: Path = Field(Path("data"), description="root of the app's database and images")
    models_dir: Path | None = Field(None, description="folder holding known weight files (offline use)")
    cache_dir: Path = Field(default_factory=_default_cache)
    allow_download: bool = True
    detector: str = "yunet"
    db_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in <data_dir>/app")
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
