"""Durability: kill -9 the real server (uvicorn, real tiny ONNX model) while a camera streams frames.

After every restart SQLite's integrity check is ok and every acknowledged record is there with its image;
the frame in flight at the kill is resent with the same id and never makes a second record. Also the
pieces: fsync of the file and its folder (the start-up quarantine of orphan files: test_orphans.py).
"""

from __future__ import annotations

import os

from _appkit import astronaut_jpeg, plain_jpeg

from neopain.app.core.storage import ImageStore
from neopain.app.stress.cameras import Script
from neopain.app.stress.runs import crash_run, prepare_user
from neopain.app.stress.server import ServerProcess

CYCLES = 3  # bench/crash.py runs many more


def test_kill_9_while_streaming_loses_and_duplicates_nothing(tmp_path, onnx_model) -> None:  # type: ignore[no-untyped-def]
    server = ServerProcess(tmp_path / "data", onnx_model)
    password = prepare_user(server.data_dir)
    script = Script(astronaut_jpeg(320), plain_jpeg(), per_assessment=3, seed=0)
    report = crash_run(server, "camera", password, cycles=CYCLES, script=script)
    assert report["server_starts"] == CYCLES + 1
    assert report["bad_restarts"] == 0, report["first_bad_restart"]
    assert report["integrity"] == "ok"
    assert report["records_acknowledged"] >= CYCLES  # each cycle saved something before its kill
    assert report["records_found"] == report["records_acknowledged"]
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["orphan_files"] == 0
    assert report["quarantined_files"] <= CYCLES  # at most the one frame in flight at each kill


def test_image_and_its_folder_are_fsynced_before_the_row(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store = ImageStore(tmp_path / "images")
    name = store.write(b"\xff\xd8\xff data", "jpg")
    path = store.path_of(name)
    assert path.read_bytes() == b"\xff\xd8\xff data"
    assert synced[0].endswith(".part") and synced[1] == str(path.parent)  # bytes first, then the rename
    assert [p.name for p in store.names()] == [name]
