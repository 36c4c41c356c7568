"""Image files without a record are quarantined (never deleted) at start, and only after a grace period;
a database with no record beside a folder of pictures stops the start; `db purge --orphans` deletes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _appkit import ScriptedPredictor, add_users, browser_for, post_frame, scripted_frame, start_assessment
from conftest import make_settings
from typer.testing import CliRunner

import neopain.cli.serve  # noqa: F401  (registers the commands)
from neopain.app.core.storage import ImageStore
from neopain.app.main import create_app
from neopain.app.models import AuditEvent
from neopain.app.services.orphans import EmptyDatabase
from neopain.cli.apps import app as cli

DAY = 86400.0


def _saved_app(data_dir: Path, frames: int = 2):  # type: ignore[no-untyped-def]
    """An app on SQLite in ``data_dir`` with ``frames`` saved records (and so image files)."""
    app = create_app(make_settings(data_dir), ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    for k in range(frames):
        assessment, token = start_assessment(nurse, f"Baby {k}")
        answer = post_frame(nurse, assessment, token, scripted_frame("pain"), f"frame-{k:04d}").json()
        assert answer["saved"], answer
    return app


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_start_quarantines_old_orphans_and_keeps_young_ones(tmp_path: Path) -> None:
    app = _saved_app(tmp_path)
    store: ImageStore = app.state.neopain.images
    kept = sorted(store.names())
    half = kept[0].parent / ".incoming-x.part"
    half.write_bytes(b"half")
    old, young = (store.path_of(store.new_name("jpg")) for _ in range(2))
    for path in (old, young):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8\xff no row " + path.name.encode())
    for path in (half, old, *kept):
        _age(path, 2 * 3600)  # past the 30-minute grace; `young` was just written
    before = _contents(store.root)
    settings = make_settings(tmp_path)
    create_app(settings, ScriptedPredictor())  # a restart
    assert sorted(store.names()) == sorted([*kept, young])
    quarantined = _contents(settings.quarantine_dir)
    assert set(quarantined) == {half.name, old.name}
    assert all(quarantined[name] == before[name] for name in quarantined)  # moved, byte for byte


def test_an_empty_database_beside_full_images_loses_nothing(tmp_path: Path) -> None:
    app = _saved_app(tmp_path)
    before = _contents(app.state.neopain.images.root)
    assert len(before) == 2
    wrong = f"sqlite:///{tmp_path / 'typo.db'}"
    with pytest.raises(EmptyDatabase, match="--accept-empty-database"):
        create_app(make_settings(tmp_path, wrong, orphan_grace_minutes=0), ScriptedPredictor())
    assert _contents(app.state.neopain.images.root) == before
    accepted = make_settings(tmp_path, wrong, orphan_grace_minutes=0, accept_empty_database=True)
    create_app(accepted, ScriptedPredictor())
    assert _contents(accepted.quarantine_dir) == before  # out of the way, not gone
    # The right database again: the pictures go back by hand, and their records still find them.
    for name, data in before.items():
        target = app.state.neopain.images.path_of(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        (accepted.quarantine_dir / name).unlink()
    restarted = create_app(make_settings(tmp_path), ScriptedPredictor())
    assert _contents(restarted.state.neopain.images.root) == before


SECOND_SERVER = (
    "import sys; from neopain.app.core.settings import AppSettings; from neopain.app.main import create_app; "
    "create_app(AppSettings(data_dir=sys.argv[1], _env_file=None))"
)


def test_a_second_process_starting_during_a_write_loses_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from neopain.app.services import frames

    app = _saved_app(tmp_path, frames=1)
    real_new_record = frames._new_record
    started: list[int] = []

    def new_record_then_second_server(*args, **kwargs):  # type: ignore[no-untyped-def]
        record = real_new_record(*args, **kwargs)  # the file is on disk, its row not committed yet
        env = {k: v for k, v in os.environ.items() if k not in ("NEOPAIN_DB_URL", "NEOPAIN_DATA_DIR")}
        done = subprocess.run([sys.executable, "-c", SECOND_SERVER, str(tmp_path)], check=False, env=env,
                              capture_output=True, text=True, timeout=120)
        started.append(done.returncode)
        assert done.returncode == 0, done.stderr[-2000:]
        return record

    monkeypatch.setattr(frames, "_new_record", new_record_then_second_server)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Baby during a write")
    answer = post_frame(nurse, assessment, token, scripted_frame("pain"), "frame-during").json()
    assert started == [0] and answer["saved"], answer
    image = nurse.client.get(f"/records/{answer['record_id']}/image")
    assert image.status_code == 200 and image.content == scripted_frame("pain")


runner = CliRunner()


def test_db_purge_orphans_deletes_only_old_quarantined_files_and_audits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEOPAIN_DB_URL", raising=False)
    settings = make_settings(tmp_path)
    app = _saved_app(tmp_path, frames=1)
    settings.quarantine_dir.mkdir(parents=True)
    old, recent = settings.quarantine_dir / "old.jpg", settings.quarantine_dir / "recent.jpg"
    old.write_bytes(b"old")
    recent.write_bytes(b"recent")
    _age(old, 10 * DAY)
    _age(recent, 1 * DAY)
    missing = runner.invoke(cli, ["db", "purge", "--orphans"])
    assert missing.exit_code == 2 and "--older-than" in missing.output
    done = runner.invoke(cli, ["db", "purge", "--orphans", "--older-than", "7"])
    assert done.exit_code == 0, done.output
    assert "1 orphan image files" in done.output
    assert not old.exists() and recent.exists()
    assert len(app.state.neopain.images.names()) == 1  # the record's own image is never touched
    with app.state.neopain.sessions() as db:
        rows = db.query(AuditEvent).filter_by(action="purge", object_type="orphan_images").all()
    assert [r.object_id for r in rows] == ["1"]


def test_serve_refuses_an_empty_database_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _saved_app(tmp_path, frames=1)
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEOPAIN_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    refused = runner.invoke(cli, ["serve"])
    assert refused.exit_code == 2
    message = " ".join(refused.output.split())
    assert "refusing to start" in message and "--accept-empty-database" in message and "NEOPAIN_DB_URL" in message
