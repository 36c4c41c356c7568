"""``neopain export`` (checkpoint -> ONNX, int8, Table II) and ``neopain predict`` (images or a video)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, track, user_errors
from neopain.data import ManifestError
from neopain.imageio import ImageError, is_image_file
from neopain.inference import ModelFileError

INT8_CHOICES = ("static", "dynamic-gemm", "dynamic", "none")


def _export_errors():
    from neopain.export import ExportError, QuantizeError
    from neopain.models import ModelError
    from neopain.preprocess import ConfigError
    from neopain.train import CheckpointError

    return user_errors(ExportError, QuantizeError, CheckpointError, ModelError, ConfigError, ModelFileError,
                       ManifestError, ImageError)


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
) -> None:
    """Export a checkpoint to ONNX (parity-checked against torch) and quantise it to int8."""
    if int8 not in INT8_CHOICES:
        raise typer.BadParameter(f"--int8 must be one of {', '.join(INT8_CHOICES)}")
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


def _write_table_ii(variants: dict[str, Path], test_faces: Path, out: Path) -> None:
    from neopain.export import load_face_crops, record_table_ii, table_ii

    crops, targets = load_face_crops(test_faces, labelled_only=True)
    json_path, md_path = out.with_name(f"{out.stem}.table_ii.json"), out.with_name(f"{out.stem}.table_ii.md")
    table = table_ii(variants, crops, targets, out_json=json_path, out_md=md_path)
    record_table_ii(table, variants)
    typer.echo(md_path.read_text(encoding="utf-8"))
    console.print(f"Table II: {json_path}, {md_path} ({table['test_crops']} test crops)")


# --- predict ---------------------------------------------------------------------------------------

ROW_FIELDS = ("source", "frame", "time_ms", "status", "reason", "label", "probability", "confidence",
              "raw_probability", "box_x", "box_y", "box_w", "box_h", "decode_ms", "detect_ms", "crop_ms",
              "classify_ms", "total_ms", "model_id", "error")


def image_files(inputs: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for images (sorted); a missing path is an error."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and is_image_file(p))
        elif item.is_file():
            files.append(item)
        else:
            raise ImageError(f"{item}: no such file or folder")
    return files


def _row(source: str, frame: int | None, result: Any = None, error: str | None = None,
         time_ms: float | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {k: None for k in ROW_FIELDS}
    row.update(source=source, frame=frame, time_ms=time_ms)
    if error is not None:
        row.update(status="error", error=error)
        return row
    data = result.to_dict()
    row.update({k: data[k] for k in ("status", "reason", "label", "probability", "confidence",
                                     "raw_probability", "model_id")})
    if data["box"] is not None:
        row.update(zip(("box_x", "box_y", "box_w", "box_h"), data["box"], strict=True))
    row.update({f"{k}_ms": v for k, v in data["timings_ms"].items()})
    return row


def _image_rows(predictor: Any, files: list[Path]) -> Iterator[dict[str, Any]]:
    for file in track(files, "assessing images", len(files)):
        try:
            yield _row(str(file), None, predictor.assess_bytes(file.read_bytes(), str(file)))
        except (ImageError, OSError) as exc:  # one bad file must not stop the batch
            yield _row(str(file), None, error=str(exc))


def video_frames(video: Path, every: int) -> Iterator[tuple[int, float, Any]]:
    """(index, time in ms, BGR frame) of every ``every``-th frame; ImageError if it will not open."""
    import cv2

    if not video.is_file():
        raise ImageError(f"{video}: video file not found")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ImageError(f"{video}: cannot open video (unknown format or codec)")
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % every == 0:
                yield index, float(capture.get(cv2.CAP_PROP_POS_MSEC)), frame
            index += 1
    finally:
        capture.release()


def _video_rows(stream: Any, video: Path, every: int) -> Iterator[dict[str, Any]]:
    import cv2

    probe = cv2.VideoCapture(str(video))
    total = int(probe.get(cv2.CAP_PROP_FRAME_COUNT)) // every or None
    probe.release()
    for index, time_ms, frame in track(video_frames(video, every), f"assessing {video.name}", total):
        yield _row(str(video), index, stream.assess(frame), time_ms=round(time_ms, 1))


def write_rows(rows: list[dict[str, Any]], out: Path) -> Path:
    """CSV or JSON by suffix, written atomically."""
    from neopain.atomic import atomic_write_bytes

    if out.suffix.lower() == ".json":
        return atomic_write_bytes(out, (json.dumps(rows, indent=2) + "\n").encode())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROW_FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_bytes(out, buffer.getvalue().encode())


def _summary_line(row: dict[str, Any]) -> str:
    where = row["source"] if row["frame"] is None else f"{row['source']} frame {row['frame']}"
    if row["status"] == "ok":
        return f"{where}: {row['label']} p(pain)={row['probability']:.3f} ({row['total_ms']:.1f} ms)"
    return f"{where}: {row['status']} ({row['reason'] or row['error']})"


@app.command("predict")
def predict_command(
    model: Path = typer.Argument(..., help="exported ONNX model (from `neopain export`)"),
    inputs: list[Path] = typer.Argument(None, help="image files and/or folders"),
    video: Path | None = typer.Option(None, help="a video file, assessed frame by frame (stream mode)"),
    out: Path | None = typer.Option(None, help="results.csv or results.json (default: print)"),
    detector: str = typer.Option("yunet", help="yunet | retinaface-onnx | retinaface"),
    smooth: float | None = typer.Option(0.5, help="video: EMA weight of the newest frame (1 = none)"),
    every: int = typer.Option(1, min=1, help="video: assess every N-th frame"),
    threads: int = typer.Option(2, min=1, help="ONNX Runtime threads"),
) -> None:
    """Assess face images (or a video) with an exported model: label, P(pain), box and timings."""
    from neopain.inference import Predictor, StreamPredictor

    if not inputs and video is None:
        raise typer.BadParameter("give image files/folders or --video FILE")
    with user_errors(ModelFileError, ImageError, ValueError):
        predictor = Predictor.from_files(model, detector=detector, threads=threads)
        rows = list(_image_rows(predictor, image_files(inputs or [])))
        if video is not None:
            rows += list(_video_rows(StreamPredictor(predictor, alpha=smooth), video, every))
    if predictor.synthetic:
        console.print("[yellow]note:[/yellow] this model was trained on synthetic faces only")
    if out is not None:
        write_rows(rows, out)
        ok = sum(r["status"] == "ok" for r in rows)
        console.print(f"{len(rows)} assessed ({ok} ok, {len(rows) - ok} without assessment or unreadable) -> {out}")
        return
    for row in rows:
        typer.echo(_summary_line(row))
