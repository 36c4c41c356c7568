"""Fixtures of the app suite: the tiny ONNX model, PostgreSQL, and an app per database backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _appkit import PostgresServer, ScriptedPredictor, add_users, browser_for, build_tiny_onnx

from neopain.app.core.settings import AppSettings
from neopain.app.main import create_app

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_onnx(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def real_predictor(onnx_model: Path):  # type: ignore[no-untyped-def]
    from neopain.inference.predictor import Predictor

    return Predictor.from_files(onnx_model, detector="yunet")


@pytest.fixture(scope="session")
def postgres():  # type: ignore[no-untyped-def]
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").new_database()
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"


def make_settings(data_dir: Path, db_url: str | None = None, **changes: object) -> AppSettings:
    return AppSettings(data_dir=data_dir, db_url=db_url, _env_file=None, **changes)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def scripted_app(db_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An app on each backend with a scripted predictor and one user per role."""
    app = create_app(
        make_settings(tmp_path_factory.mktemp("data"), db_url, max_upload_bytes=300_000), ScriptedPredictor()
    )
    add_users(app)
    return app


@pytest.fixture(scope="module")
def users(scripted_app):  # type: ignore[no-untyped-def]
    return {role: browser_for(scripted_app, role) for role in ("nurse", "researcher", "admin")}
