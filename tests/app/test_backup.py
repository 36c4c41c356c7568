"""Backup and restore: database and images together, with hashes; a restore into an empty place loses
nothing (every row, every picture, the audit chain, the logins); a damaged backup or a full target is
refused with the name of the file or the reason. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
import uuid

import pytest
from _appkit import ScriptedPredictor, add_users, browser_for, post_frame, scripted_frame, start_assessment
from conftest import make_settings
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

import neopain.cli.serve  # noqa: F401  (registers the commands)
from neopain.app.main import create_app
from neopain.cli.apps import app as cli

TABLES = ("users", "babies", "assessments", "records", "audit_events", "units", "user_units", "break_glass")


def snapshot(app) -> dict:  # type: ignore[no-untyped-def]
    """Every row of the tables that matter, and every image file's bytes."""
    state = app.state.neopain
    with state.engine.connect() as connection:
        rows = {t: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {t}")).all())) for t in TABLES}
    files = {p.name: p.read_bytes() for p in state.images.names()}
    return {"rows": rows, "files": files}


def target_url(request, db_url: str, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if db_url.startswith("postgresql"):
        return request.getfixturevalue("postgres").new_database()
    return f"sqlite:///{tmp_path / 'restored' / 'app.db'}"


@pytest.fixture()
def ward(request, db_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("ward")
    url = target_url(request, db_url, folder)
    app = create_app(make_settings(folder, url), ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    for name in ("Backup Baby One", "Backup Baby Two"):
        assessment, token = start_assessment(nurse, name)
        for kind in ("pain", "no_pain", "pain"):
            post_frame(nurse, assessment, token, scripted_frame(kind), uuid.uuid4().hex)
    return app, folder, url


def test_a_restore_into_an_empty_place_loses_nothing(ward, request, db_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, folder, url = ward
    before = snapshot(app)
    assert len(before["files"]) == 6 and len(before["rows"]["records"]) == 6
    runner = CliRunner()
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(folder))
    monkeypatch.setenv("NEOPAIN_DB_URL", url)
    made = runner.invoke(cli, ["db", "backup", str(tmp_path / "backup")])
    assert made.exit_code == 0, made.output
    backup = tmp_path / "backup"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    manifest = json.loads((backup / "manifest.json").read_text())
    assert sum(f.startswith("images/") for f in manifest["files"]) == 6
    again = runner.invoke(cli, ["db", "backup", str(backup)])
    assert again.exit_code == 2 and "must be new or empty" in again.output

    fresh, fresh_url = tmp_path / "fresh", target_url(request, db_url, tmp_path)
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(fresh))
    monkeypatch.setenv("NEOPAIN_DB_URL", fresh_url)
    restored = runner.invoke(cli, ["db", "restore", str(backup)])
    assert restored.exit_code == 0, restored.output
    assert "audit chain intact" in restored.output
    back = create_app(make_settings(fresh, fresh_url), ScriptedPredictor())
    after = snapshot(back)
    audit_rows = after["rows"].pop("audit_events")
    before_audit = before["rows"].pop("audit_events")
    assert after == before
    actions = [row for row in audit_rows if row not in before_audit]
    assert len(actions) == 2 and {"backup", "restore"} <= {v for row in actions for v in row if isinstance(v, str)}
    nurse = browser_for(back, "nurse")  # the accounts came back too
    history = nurse.client.get("/history").text
    assert "Backup Baby One" in history and "Backup Baby Two" in history
    full = runner.invoke(cli, ["db", "restore", str(backup)])
    assert full.exit_code == 2 and "restore goes into an empty" in full.output


def test_a_damaged_backup_is_refused_before_anything_is_written(ward, request, db_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from neopain.app.core.storage import ImageStore
    from neopain.app.services.backup import BackupError, backup, restore

    app, _folder, _url = ward
    state = app.state.neopain
    report = backup(state.engine, state.images, state.settings.app_dir, tmp_path / "b")
    picture = next((tmp_path / "b" / "images").glob("*/*"))
    picture.write_bytes(picture.read_bytes()[:-10] + b"0123456789")
    fresh_url = target_url(request, db_url, tmp_path)
    target = create_app(make_settings(tmp_path / "t", fresh_url), ScriptedPredictor()).state.neopain
    with pytest.raises(BackupError, match=rf"{picture.name}.*does not match"):
        restore(target.engine, ImageStore(target.images.root), target.settings.app_dir, tmp_path / "b")
    assert target.images.names() == []
    assert "records" in inspect(target.engine).get_table_names()
    with target.engine.connect() as connection:
        assert connection.execute(select(text("count(*)")).select_from(text("records"))).scalar() == 0
    assert report.images == 6
