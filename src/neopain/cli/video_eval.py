"""``neopain evaluate-video``: an NFCS model's observation windows scored against synthetic video truth."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, track, user_errors
from neopain.core.atomic import atomic_write_text
from neopain.core.processes import ordered_map
from neopain.core.weights import WeightsError
from neopain.inference import ModelFileError, Predictor, read_clip
from neopain.pixels.videoio import VideoError, probe


def _videos(folder: Path) -> list[Path]:
    """The videos ``videos.csv`` of a ``synth-video`` folder lists, each checked to exist."""
    listing = folder / "videos.csv"
    if not listing.is_file():
        raise ValueError(f"{listing}: not found (give the folder `neopain data synth-video` wrote)")
    with listing.open(newline="") as handle:
        paths = [folder / row["path"] for row in csv.DictReader(handle)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise ValueError(f"{listing}: {'no videos listed' if not paths else 'missing ' + ', '.join(missing)}")
    return paths


def _readings(predictor: Predictor, path: Path, fps: float, progress: Callable = track) -> list:
    """One video's per-frame readings, the face followed from frame to frame."""
    info = probe(path)
    frames = read_clip(predictor, path, fps, progress, round(info.duration_s * min(fps, info.fps)))
    return [f.reading() for f in frames]


def _read_in_worker(job: tuple[Path, str, int, float, Path]) -> list:
    """``_readings`` in a worker process, with its own predictor (a video's follow state is its own)."""
    model, detector, threads, fps, path = job
    predictor = Predictor.from_files(model, detector=detector, threads=threads, rotations="follow")
    return _readings(predictor, path, fps, _quietly)


def _quietly(items: Iterable, _what: str, _total: int | None) -> Iterable:
    return items  # a worker's progress bar would garble the parent's


@app.command("evaluate-video")
def evaluate_video(
    model: Annotated[Path, typer.Argument(help="exported NFCS model (ONNX, trained with --targets pain,nfcs)")],
    videos: Annotated[Path, typer.Argument(help="a folder written by `neopain data synth-video`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder: results.json, report.md")],
    fps: Annotated[float, typer.Option(min=0.1, help="frames read per second of video")] = 10.0,
    stride: Annotated[float, typer.Option(min=0.5, help="seconds between window starts")] = 5.0,
    baseline: Annotated[float | None, typer.Option(
        "--baseline-s", min=1.0, help="code actions relative to each baby's first S seconds (at rest)")] = None,
    detector: Annotated[str, typer.Option(help="yunet | retinaface-onnx")] = "yunet",
    threads: Annotated[int, typer.Option(min=1, help="ONNX Runtime threads (shared among --jobs)")] = 2,
    jobs: Annotated[int, typer.Option(min=1, help="videos read side by side, one process each")] = 1,
) -> None:
    """Per-frame action AUC, PIPP-R facial items and NFCS-P-3 epochs against the known truth."""
    from neopain.evaluate import VideoTruthError, evaluate_videos, read_video_truth, video_report_md

    with user_errors(ModelFileError, VideoError, VideoTruthError, WeightsError, ValueError):
        predictor = Predictor.from_files(model, detector=detector, threads=threads, rotations="follow")
        if not predictor.classifier.has_actions:
            raise ModelFileError(f"{model}: this model has no NFCS action outputs (train --targets pain,nfcs)")
        truth = read_video_truth(videos / "truth.csv")
        paths = _videos(videos)
        if jobs == 1:
            readings = {path.name: _readings(predictor, path, fps) for path in paths}
        else:
            share = (model, detector, max(1, threads // jobs), fps)
            readings = dict(zip((p.name for p in paths), ordered_map(_read_in_worker, [(*share, p) for p in paths],
                                                                      jobs), strict=True))
        result = evaluate_videos(truth, readings, stride, baseline)
    result.update(model=str(model), data=str(videos), fps=fps, synthetic_model=predictor.synthetic)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(result, indent=2, default=float) + "\n")
    atomic_write_text(out / "report.md", video_report_md(result, str(model), str(videos)))
    pipp, epochs = result["pipp_r"], result["nfcs_p3"]
    console.print(f"frame action AUC {result['frames']['mean_action_auc']:.3f}; PIPP-R facial kappa "
                  f"{pipp['kappa']:.3f}; NFCS-P-3 ICC {epochs['icc']:.3f}; windows without a face scored: "
                  f"{pipp['scored_without_face'] + epochs['scored_without_face']} -> {out / 'report.md'}")
