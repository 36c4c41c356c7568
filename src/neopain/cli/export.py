"""``neopain export`` (checkpoint -> ONNX, int8, Table II) and ``neopain predict`` (images or a video)."""

from __future__ import annotations

from pathlib import Path

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, track, user_errors
from neopain.data import ManifestError
from neopain.inference import ModelFileError
from neopain.pixels.imageio import ImageError

INT8_CHOICES = ("static", "dynamic-gemm", "dynamic", "none")


def _export_errors():
    from neopain.export import ExportError, QuantizeError, TfliteError
    from neopain.models import ModelError
    from neopain.pixels.preprocess import ConfigError
    from neopain.train import CheckpointError

    return user_errors(ExportError, QuantizeError, CheckpointError, ModelError, ConfigError, ModelFileError,
                       ManifestError, ImageError, TfliteError)


def variant_path(out: Path, mode: str) -> Path:
    """model.onnx -> model.int8.onnx (static) or model.<mode>.onnx."""
    tag = "int8" if mode == "static" else mode
    return out.with_name(f"{out.stem}.{tag}{out.suffix or '.onnx'}")


@app.command("export")
def export_command(
    checkpoint: Path = typer.Argument(..., help="training checkpoint (best.pt)"),
    out: Path = typer.Option(..., help="float ONNX file to write; int8 goes beside it as NAME.int8.onnx"),
    int8: str = typer.Option("static", help="static (ship this) | dynamic-gemm | dynamic (slow) | none"),
    calibration: Path | None = typer.Option(None, help="faces manifest of TRAINING crops for static int8"),
    table_ii: Path | None = typer.Option(None, "--table-ii", help="faces manifest of TEST crops: Table II of "
                                          "float and every int8 variant (JSON + Markdown beside --out)"),
    calibration_limit: int = typer.Option(256, help="most calibration crops (a seeded subset)"),
    seed: int = typer.Option(0),
    format: str = typer.Option("onnx", "--format", help="onnx | tflite (also NAME.tflite: the paper's phone "
                               "format, dynamic-range int8, converted in $NEOPAIN_TFLITE_PYTHON's environment)"),
) -> None:
    """Export a checkpoint to ONNX (parity-checked against torch) and quantise it to int8."""
    if int8 not in INT8_CHOICES:
        raise typer.BadParameter(f"--int8 must be one of {', '.join(INT8_CHOICES)}")
    if format not in ("onnx", "tflite"):
        raise typer.BadParameter(f"--format must be onnx or tflite, got '{format}'")
    from neopain.export import describe, export_checked, load_face_crops, quantize

    with _export_errors():
        needs_calibration = int8 == "static" or table_ii is not None
        if needs_calibration and calibration is None:
            raise typer.BadParameter("static int8 and --table-ii need --calibration FACES.csv (training crops), "
                                     "or use --int8 none")
        crops = load_face_crops(calibration, calibration_limit, seed)[0] if calibration else None
        result = export_checked(checkpoint, out, seed=seed)
        typer.echo(f"{out}: {describe(out)}; parity vs torch: max |logit diff| = {result.max_abs_logit_diff:.3g} "
                   f"(tolerance {result.tolerance:g} x max(1, |logit|))")
        modes = ["static", "dynamic-gemm", "dynamic"] if table_ii is not None else ([] if int8 == "none" else [int8])
        variants: dict[str, Path] = {"float": out}
        for mode in track(modes, "quantising", len(modes)):
            variants[mode] = quantize(out, variant_path(out, mode), mode, crops, calibration_limit, seed)
            typer.echo(f"{variants[mode]}: {describe(variants[mode])}")
        if table_ii is not None:
            _write_table_ii(variants, table_ii, out)
        if format == "tflite":
            _write_tflite(out)


def _write_tflite(onnx_path: Path) -> None:
    from neopain.export import to_tflite

    path = to_tflite(onnx_path, onnx_path.with_suffix(".tflite"))
    typer.echo(f"{path}: TFLite, dynamic-range int8, {path.stat().st_size / 2**20:.2f} MiB (metadata: {path}.json)")


def _write_table_ii(variants: dict[str, Path], test_faces: Path, out: Path) -> None:
    from neopain.export import write_table_ii

    table, json_path, md_path = write_table_ii(variants, test_faces, out)
    typer.echo(md_path.read_text(encoding="utf-8"))
    console.print(f"Table II: {json_path}, {md_path} ({table['test_crops']} test crops)")


# --- predict ---------------------------------------------------------------------------------------

@app.command("predict")
def predict_command(
    model: Path = typer.Argument(..., help="exported ONNX model (from `neopain export`)"),
    inputs: list[Path] = typer.Argument(None, help="image files and/or folders"),
    video: Path | None = typer.Option(None, help="a video file, assessed frame by frame (stream mode)"),
    out: Path | None = typer.Option(None, help="results.csv or results.json (default: print); with "
                                    "--instrument report.html or report.json"),
    detector: str = typer.Option("yunet", help="yunet | retinaface-onnx | retinaface"),
    smooth: float | None = typer.Option(0.5, help="video: EMA weight of the newest frame (1 = none)"),
    every: int = typer.Option(1, min=1, help="video: assess every N-th frame"),
    threads: int = typer.Option(2, min=1, help="ONNX Runtime threads"),
    instrument: str | None = typer.Option(None, help="video: score an instrument over consecutive windows "
                                          "(pipp-r | nfcs-p3 | nfcs | nfcs-10 | nfcs-8 | nips | n-pass); "
                                          "needs an NFCS model"),
    fps: float = typer.Option(10.0, min=0.1, help="with --instrument: frames read per second"),
    entered: list[str] = typer.Option(None, help="with --instrument: an item the nurse scored, ITEM=VALUE "
                                      "(repeat), the same for every window"),
) -> None:
    """Assess face images (or a video) with an exported model: label, P(pain), box and timings; or, with
    --instrument, a video's observation windows scored (JSON / HTML report with a timeline)."""
    from neopain.core.weights import WeightsError
    from neopain.inference import (
        Predictor,
        StreamPredictor,
        image_files,
        image_rows,
        summary_line,
        video_rows,
        write_rows,
    )

    if instrument is not None:
        _observe_command(model, inputs, video, out, detector, threads, instrument, fps, entered or [], every)
        return
    if not inputs and video is None:
        raise typer.BadParameter("give image files/folders or --video FILE")
    with user_errors(ModelFileError, ImageError, WeightsError, ValueError):
        predictor = Predictor.from_files(model, detector=detector, threads=threads)
        rows = list(image_rows(predictor, image_files(inputs or []), track))
        if video is not None:
            rows += list(video_rows(StreamPredictor(predictor, alpha=smooth), video, every, track))
    if predictor.synthetic:
        console.print("[yellow]note:[/yellow] this model was trained on synthetic faces only")
    if out is not None:
        write_rows(rows, out)
        ok = sum(r["status"] == "ok" for r in rows)
        console.print(f"{len(rows)} assessed ({ok} ok, {len(rows) - ok} without assessment or unreadable) -> {out}")
        return
    for row in rows:
        typer.echo(summary_line(row))


def _observe_command(model: Path, inputs: list[Path] | None, video: Path | None, out: Path | None,
                     detector: str, threads: int, name: str, fps: float, entered: list[str],
                     every: int) -> None:
    """``predict --video CLIP --instrument NAME``: the windows scored, a report written or printed."""
    from neopain.core.weights import WeightsError
    from neopain.inference import (
        PROPOSES,
        Predictor,
        check_report_path,
        observe_video,
        window_message,
        write_observation,
    )

    if video is None or inputs or every != 1:
        raise typer.BadParameter("--instrument scores one --video CLIP (no images, no --every: use --fps)")
    with user_errors(ModelFileError, ImageError, WeightsError, ValueError):
        if out is not None:
            check_report_path(out)
        # One clip, one phone angle: follow the frame's roll rather than try all four turns each frame.
        predictor = Predictor.from_files(model, detector=detector, threads=threads, rotations="follow")
        observation = observe_video(predictor, video, name, fps, entered, track)
        if out is not None:
            write_observation(observation, out)
    if observation.synthetic:
        console.print("[yellow]note:[/yellow] this model was trained on synthetic faces only")
    for k, ws in enumerate(observation.windows):
        share = observation.readable_share(ws.start, ws.end)
        where = f"{video.name} W{k + 1} {ws.start:g}-{ws.end:g} s ({share:.0%} readable)"
        typer.echo(f"{where}: {window_message(ws)}")
    console.print(PROPOSES + (f" -> {out}" if out else ""))
