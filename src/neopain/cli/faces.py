"""``neopain faces extract``, ``neopain faces export-retinaface`` and ``neopain faces tune-detector``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from neopain.cli.apps import faces_app
from neopain.cli.common import console, track, user_errors
from neopain.core.weights import WeightsError
from neopain.data import ManifestError
from neopain.faces import (
    CropSettings,
    DetectorDataError,
    DetectorInputError,
    ExtractSummary,
    TuneConfig,
    create_detector,
    export_retinaface_onnx,
    extract_faces,
    tune_from_manifest,
    upright_detector,
)
from neopain.pixels.imageio import ImageError

SHOWN_PER_LIST = 10


class Rotations(str, Enum):
    off = "off"
    missing = "missing"
    always = "always"


DETECTOR_HELP = "face detector: yunet, retinaface, retinaface-onnx, box, or a tuned detector's .onnx file"


def _print_summary(summary: ExtractSummary) -> None:
    table = Table(title="faces", show_header=False)
    for key, value in summary.as_dict().items():
        table.add_row(key, str(value))
    console.print(table)
    for path, reason in summary.missed[:SHOWN_PER_LIST]:
        console.print(f"  missed {path}: {reason}", markup=False, highlight=False)
    for path, count in summary.several[:SHOWN_PER_LIST]:
        console.print(f"  {count} faces in {path} (the largest was kept)", markup=False, highlight=False)
    console.print(
        f"faces manifest: {summary.faces_manifest}; missed: {summary.missed_csv}; "
        f"several: {summary.several_csv}",
        markup=False,
        highlight=False,
    )


@faces_app.command("extract")
def extract(
    manifest: Annotated[Path, typer.Argument(help="manifest CSV (see docs/MANIFEST.md)")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="output folder: crops/, masks/, faces.csv, missed.csv")
    ],
    detector: Annotated[str, typer.Option("--detector", "-d", help=DETECTOR_HELP)] = "yunet",
    size: Annotated[int, typer.Option(help="crop side in pixels (the model's input size)")] = 224,
    margin: Annotated[float, typer.Option(help="margin on each side, as a fraction of the box side")] = CropSettings.margin,
    align: Annotated[bool, typer.Option("--align/--no-align", help="roll the crop upright from the landmarks")] = True,
    cache_dir: Annotated[
        Path | None, typer.Option(help="crop cache (default: NEOPAIN_CACHE_DIR/faces)")
    ] = None,
    fps: Annotated[float, typer.Option(help="frames per second sampled from video rows")] = 2.0,
    frame_boxes: Annotated[
        Path | None, typer.Option(help="per-frame boxes CSV (video, frame, box_*): synth-video truth.csv")
    ] = None,
    rotations: Annotated[Rotations, typer.Option(
        help="also search the image's quarter turns: off (upright pictures), missing (only when none is "
        "found), always (every picture, as the bedside does: a phone at any angle)",
    )] = Rotations.off,
    second_look: Annotated[bool, typer.Option(
        "--second-look/--no-second-look",
        help="look again, light evened out, at a frame without a face under the lamps or at night (as the bedside does)",
    )] = True,
) -> None:
    """Detect and crop the face of every manifest row (video rows: each sampled frame)."""
    with user_errors(ValueError):
        settings = CropSettings(size=size, margin=margin, align=align)
        if not fps > 0:
            raise ValueError(f"--fps must be above 0, got {fps:g}")
    from neopain.inference import SEARCH_SIDES, look_again_under_lights

    with user_errors(ValueError, WeightsError, FileNotFoundError):  # ValueError: no detector of that name
        found = upright_detector(create_detector(detector), rotations.value, search_sides=SEARCH_SIDES)
    with user_errors(ManifestError, WeightsError, ImageError, DetectorInputError, FileNotFoundError):
        summary = extract_faces(
            manifest,
            out,
            detector=found,
            look_again=look_again_under_lights(found) if second_look else None,
            settings=settings,
            cache_dir=cache_dir,
            fps=fps,
            frame_boxes=frame_boxes,
            progress=lambda rows, total: track(rows, "faces", total),
        )
    _print_summary(summary)


@faces_app.command("export-retinaface")
def export_retinaface(
    out: Annotated[Path, typer.Option("--out", "-o", help="ONNX file to write")],
) -> None:
    """Export the RetinaFace MobileNet-0.25 checkpoint to ONNX (dynamic height and width)."""
    with user_errors(WeightsError, OSError):
        path = export_retinaface_onnx(out)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", markup=False, highlight=False)


@faces_app.command("tune-detector")
def tune_detector(
    manifest: Annotated[Path, typer.Argument(help="manifest CSV with face boxes and the five landmarks")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for detector.pth and detector.onnx")],
    epochs: Annotated[int, typer.Option(min=1, max=200)] = TuneConfig.epochs,
    batch_size: Annotated[int, typer.Option(min=1, max=256)] = TuneConfig.batch_size,
    lr: Annotated[float, typer.Option(min=1e-6, max=1.0)] = TuneConfig.lr,
    seed: Annotated[int, typer.Option()] = TuneConfig.seed,
    size: Annotated[int, typer.Option(
        help="side of the square training input, a multiple of 32 (the bedside looks at 160-320 px copies)",
    )] = TuneConfig.size,
    negative_share: Annotated[float, typer.Option(
        help="share of each epoch's pictures drawn from face-free photographs (what stays background)",
    )] = TuneConfig.negative_share,
) -> None:
    """Fine-tune RetinaFace MobileNet-0.25 on the manifest's faces; serve the .onnx as --detector FILE."""
    with user_errors(ValueError):
        config = TuneConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, size=size,
                            negative_share=negative_share)
    with user_errors(ManifestError, WeightsError, ImageError, DetectorDataError, OSError, ImportError):
        path = tune_from_manifest(
            manifest, out, config, progress=lambda epoch, loss: console.print(f"epoch {epoch}: loss {loss:.4f}")
        )
    console.print(f"wrote {path}: serve it with --detector {path}", markup=False, highlight=False)
