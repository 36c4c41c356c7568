"""A short load run: 4 cameras x 5 s at 2 frames/s against the real server on 127.0.0.1 (bench/load.py
runs the long one): nothing lost, nothing duplicated, resent frames answered from the first save."""

from __future__ import annotations

from _appkit import astronaut_jpeg, plain_jpeg

from neopain.app.stress.cameras import Script
from neopain.app.stress.runs import load_run, prepare_user
from neopain.app.stress.server import ServerProcess


def test_four_cameras_lose_and_duplicate_nothing(tmp_path, onnx_model) -> None:  # type: ignore[no-untyped-def]
    server = ServerProcess(tmp_path / "data", onnx_model)
    password = prepare_user(server.data_dir)
    server.start()
    try:
        script = Script(astronaut_jpeg(320), plain_jpeg(), per_assessment=4, retry_rate=0.25, seed=1)
        report = load_run(server, "camera", password, cameras=4, fps=2.0, duration_s=5.0, script=script)
    finally:
        server.stop()
    assert report["frames_sent"] == 40 + report["frames_resent"] and report["frames_resent"] >= 1
    assert report["frames_acknowledged"] == 40
    assert report["records_acknowledged"] >= 4 * 3  # a new assessment every 4 frames saves its first face
    assert report["records_found"] == report["records_acknowledged"]
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["orphan_files"] == 0
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p95"] < 5000


def test_two_server_processes_on_postgresql_lose_and_duplicate_nothing(tmp_path, onnx_model, postgres) -> None:  # type: ignore[no-untyped-def]
    """`neopain serve --workers 2` on PostgreSQL: the deployment a hospital runs behind its proxy."""
    url = postgres.new_database()
    server = ServerProcess(tmp_path / "data", onnx_model, db_url=url, workers=2)
    password = prepare_user(server.data_dir, db_url=url)
    server.start()
    try:
        script = Script(astronaut_jpeg(320), plain_jpeg(), per_assessment=4, retry_rate=0.25, seed=2)
        report = load_run(server, "camera", password, cameras=4, fps=2.0, duration_s=4.0, script=script)
    finally:
        server.stop()
    assert report["frames_acknowledged"] == 32 and report["records_acknowledged"] >= 4 * 2
    assert report["records_found"] == report["records_acknowledged"]
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["orphan_files"] == 0
    assert "2 process(es)" in server.log_tail()
