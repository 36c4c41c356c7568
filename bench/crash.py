"""Crash: kill -9 the real server while a camera streams frames, many times; check after every restart.

After each restart: SQLite's `PRAGMA integrity_check` is ok (PostgreSQL answers), every record the camera was told was saved
is in the database with its image file, no frame id has two records, no orphan image file is left. The
frame that was in flight when the server died is sent again (same id) after the restart.

    python bench/crash.py --cycles 50 --out bench/crash.json
    python bench/crash.py --cycles 20 --workers 2 --postgres   # kill -9 of every worker at once
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _appbench import add_server_options, emit, model_or_tiny, phone_frames, server_database, work_dir

from neopain.app.stress.cameras import Script
from neopain.app.stress.runs import crash_run, prepare_user
from neopain.app.stress.server import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--model", type=Path, default=None, help="ONNX classifier (default: tiny test model)")
    parser.add_argument("--work", type=Path, default=None, help="data dir for the server (default: temp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    add_server_options(parser)
    args = parser.parse_args()
    if not 1 <= args.cycles <= 1000:
        parser.error("keep it bounded: 1-1000 cycles")
    with work_dir(args.work) as work:
        report = _run(args, work)
    emit(report, args.out)


def _run(args, work: Path) -> dict:  # type: ignore[no-untyped-def]
    """The bench in a data dir that lives as long as the run."""
    model = model_or_tiny(args.model, work / "model")
    face, no_face = phone_frames()
    began = time.perf_counter()
    with server_database(args.postgres) as db_url:
        server = ServerProcess(work / "data", model, db_url=db_url, workers=args.workers)
        password = prepare_user(server.data_dir, db_url=db_url)
        report = crash_run(
            server,
            "camera",
            password,
            cycles=args.cycles,
            script=Script(face, no_face, per_assessment=3, seed=args.seed),
        )
    report.update(wall_s=round(time.perf_counter() - began, 1), workers=args.workers,
                  database="postgresql" if args.postgres else "sqlite")
    return report


if __name__ == "__main__":
    main()
