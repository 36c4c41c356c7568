"""``neopain faces extract`` and ``neopain faces export-retinaface``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from neopain.cli.apps import faces_app
from neopain.cli.common import console, track, user_errors
from neopain.data.manifest import ManifestError
from neopain.faces.base import DetectorInputError
from neopain.imageio import ImageError
from neopain.weights import WeightsError

SHOWN_PER_LIST = 10


class DetectorName(str, Enum):
    yunet = "yunet"
    retinaface = "retinaface"
    retinaface_onnx = "retinaface-onnx"
    box = "box"


def _print_summary(summary) -> None:  # noqa: ANN001 (ExtractSummary, imported lazily)
    table = Table(title="faces", show_header=False)
    for key, value in summary.as_dict().items():
        table.add_row(key, str(value))
    console.print(table)
    for path, reason in summary.missed[:SHOWN_PER_LIST]:
        console.print(f"  missed {path}: {reason}", markup=False, highlight=False)
    for path, count in summary.several[:SHOWN_PER_LIST]:
        console.print(f"  {count} faces in {path} (the largest was kept)", markup=False, highlight=False)
    console.print(f"faces manifest: {summary.faces_manifest}; missed: {summary.missed_csv}; "
                  f"several: {summary.several_csv}", markup=False, highlight=False)


@faces_app.command("extract")
def extract(
    manifest: Path = typer.Argument(..., help="manifest CSV (see docs/MANIFEST.md)"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder: crops/, masks/, faces.csv, missed.csv"),
    detector: DetectorName = typer.Option(DetectorName.yunet, "--detector", "-d", help="face detector"),
    size: int = typer.Option(224, help="crop side in pixels (the model's input size)"),
    margin: float = typer.Option(0.25, help="margin on each side, as a fraction of the face box side"),
    align: bool = typer.Option(False, "--align/--no-align", help="rotate so the eyes are level"),
    cache_dir: Path | None = typer.Option(None, help="crop cache folder (default: NEOPAIN_CACHE_DIR/faces)"),
) -> None:
    """Detect and crop the face of every manifest row."""
    from neopain.faces.crop import CropSettings
    from neopain.faces.extract import extract_faces

    with user_errors(ValueError):
        settings = CropSettings(size=size, margin=margin, align=align)
    with user_errors(ManifestError, WeightsError, ImageError, DetectorInputError, FileNotFoundError):
        summary = extract_faces(
            manifest, out, detector=detector.value, settings=settings, cache_dir=cache_dir,
            progress=lambda rows, total: track(rows, "faces", total),
        )
    _print_summary(summary)


@faces_app.command("export-retinaface")
def export_retinaface(
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write"),
) -> None:
    """Export the RetinaFace MobileNet-0.25 checkpoint to ONNX (dynamic height and width)."""
    from neopain.faces.retinaface import export_retinaface_onnx

    with user_errors(WeightsError, OSError):
        path = export_retinaface_onnx(out)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", markup=False, highlight=False)
