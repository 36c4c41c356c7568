"""Speed of `neopain predict MODEL --video CLIP --instrument pipp-r` end to end: a 30-s clip at 10 frames/s
(300 frames of 640x480, MJPG) decoded, every frame detected (YuNet), cropped and classified by an NFCS model,
and the PIPP-R window scored. The goal (issue 18): under 30 s on this 2-core CPU, i.e. faster than the clip.

The clip is written on the fly from synthetic faces (`neopain.data.synthesize`) drifting over a noisy
background. Prints JSON (and writes it with --out): wall time per run (model loading and the HTML report
apart), frames/s, per-stage medians, the CPU.

    PYTHONPATH=src python bench/observe_speed.py MODEL.onnx [--threads 2] [--runs 1] \
        [--out bench/observe_speed.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _report import emit

from neopain.data import synthesize
from neopain.export.cpu import cpu_summary
from neopain.inference import Predictor, observe_video, write_observation
from neopain.pixels.imageio import read_image
from neopain.pixels.videoio import write_video

WIDTH, HEIGHT = 640, 480


def synthetic_faces(folder: Path, seed: int) -> list[np.ndarray]:
    manifest = synthesize(folder / "synth", subjects=3, images_per_subject=4, seed=seed, size=320)
    return [read_image(p) for p in sorted((manifest.parent / "images").glob("*.png"))]


def clip_frames(faces: list[np.ndarray], count: int, seed: int) -> list[np.ndarray]:
    """``count`` 640x480 frames: a face held for 0.7 s at a time, drifting slowly, on sensor noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        face = faces[(i // 7) % len(faces)]
        canvas = rng.normal(120, 10, size=(HEIGHT, WIDTH, 3)).clip(0, 255).astype(np.uint8)
        h, w = face.shape[:2]
        x = int((WIDTH - w) * (0.5 + 0.4 * np.sin(i / 40)))
        y = (HEIGHT - h) // 2
        canvas[y : y + h, x : x + w] = face
        frames.append(canvas)
    return frames


def one_run(model: Path, clip: Path, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    predictor = Predictor.from_files(model, detector=args.detector, threads=args.threads, rotations=args.rotations)
    loaded = time.perf_counter()
    observation = observe_video(predictor, clip, "pipp-r", fps=args.fps)
    done = time.perf_counter()
    write_observation(observation, clip.with_name("report.html"))
    reported = time.perf_counter()
    frames = len(observation.frames)
    return {
        "load_s": round(loaded - started, 3),
        "wall_s": round(done - loaded, 3),  # decode + detect + crop + classify + windows
        "report_html_s": round(reported - done, 3),  # the SVG timeline and the page, written
        "frames": frames,
        "frames_per_s": round(frames / (done - loaded), 2),
        "face_frames": sum(f.face for f in observation.frames),
        "stage_median_ms": observation.stage_medians_ms(),
        "windows_ms": round(observation.windows_ms, 2),
        "windows": [{"start": w.start, "end": w.end, "scorable": w.scorable,
                     "proposals": {k: p.value for k, p in w.proposals.items()}} for w in observation.windows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an NFCS model (ONNX, from `neopain export`)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime and OpenCV threads")
    parser.add_argument("--detector", default="yunet")
    parser.add_argument("--rotations", default="follow", help="off | missing | always | follow (as predict --video)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1, help="timed runs over the same clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    report: dict = {
        "what": f"predict --video --instrument pipp-r end to end: a {args.seconds:g}-s clip at {args.fps:g} "
                f"frames/s, {WIDTH}x{HEIGHT} MJPG, decode + detect + crop + classify + windows",
        "goal_s": args.seconds, "model": str(args.model.resolve()), "detector": args.detector,
        "threads": args.threads, "cpu": cpu_summary(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
    }
    with tempfile.TemporaryDirectory(prefix="neopain-observe-") as tmp:
        folder = Path(tmp)
        frames = clip_frames(synthetic_faces(folder, args.seed), round(args.seconds * args.fps), args.seed)
        clip = write_video(folder / "clip.avi", frames, args.fps)
        report["clip"] = {"frames": len(frames), "mib": round(clip.stat().st_size / 2**20, 2)}
        runs = [one_run(args.model, clip, args) for _ in range(args.runs)]
    walls = [r["wall_s"] for r in runs]
    report["runs"] = runs
    report["wall_s_median"] = round(statistics.median(walls), 3)
    report["under_goal"] = report["wall_s_median"] < args.seconds
    report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    emit(report, args.out)


if __name__ == "__main__":
    main()
