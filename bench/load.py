"""Load: N phone cameras at F frames/s each against one real `neopain serve` on 127.0.0.1.

Each camera logs in, starts an assessment every few frames (each saves its first face), sends 640x480
JPEG frames (3 with the astronaut's face, 1 without), and resends ~10% of them with the same frame id as
a phone does when it never saw the answer. Reports JSON: p50/p95 latency, records acknowledged and
found, lost and duplicated records (goal 0 and 0).

    python bench/load.py --cameras 8 --fps 2 --duration 60 --out bench/load.json
    python bench/load.py --workers 2 --postgres   # the multi-process deployment
    python bench/load.py --lockstep               # all cameras in step: a burst at every frame interval
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _appbench import add_server_options, emit, model_or_tiny, phone_frames, server_database, work_dir

from neopain.app.stress.cameras import Script
from neopain.app.stress.runs import load_run, prepare_user
from neopain.app.stress.server import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second per camera")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (bounded run)")
    parser.add_argument("--model", type=Path, default=None, help="ONNX classifier (default: tiny test model)")
    parser.add_argument("--work", type=Path, default=None, help="data dir for the server (default: temp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--lanes", type=int, default=1, help="the server's NEOPAIN_ASSESS_LANES")
    parser.add_argument("--lockstep", action="store_true",
                        help="every camera sends at the same moment (default: each at its own seeded phase)")
    add_server_options(parser)
    args = parser.parse_args()
    if not 1 <= args.cameras <= 64 or not 0 < args.fps <= 30 or not 0 < args.duration <= 3600:
        parser.error("keep it bounded: 1-64 cameras, 0-30 fps, at most 3600 s")
    with work_dir(args.work) as work:
        report = _run(args, work)
    emit(report, args.out)


def _run(args, work: Path) -> dict:  # type: ignore[no-untyped-def]
    """The bench in a data dir that lives as long as the run."""
    model = model_or_tiny(args.model, work / "model")
    face, no_face = phone_frames()
    with server_database(args.postgres) as db_url:
        server = ServerProcess(work / "data", model, db_url=db_url, workers=args.workers,
                               env={"NEOPAIN_ASSESS_LANES": str(args.lanes)})
        password = prepare_user(server.data_dir, db_url=db_url)
        server.start()
        try:
            report = load_run(
                server, "camera", password, cameras=args.cameras, fps=args.fps, duration_s=args.duration,
                script=Script(face, no_face, seed=args.seed, lockstep=args.lockstep),
            )  # fmt: skip
        finally:
            server.stop()
    report.update(
        phases="lockstep" if args.lockstep else "seeded", model=str(model), workers=args.workers, lanes=args.lanes,
        database="postgresql" if args.postgres else "sqlite",
    )  # fmt: skip
    return report


if __name__ == "__main__":
    main()
