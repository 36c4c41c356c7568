"""``neopain data export-labelled``: confirmed ward records -> images + manifest for training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import data_app
from neopain.cli.common import console, user_errors


@data_app.command("export-labelled")
def export_labelled_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for images/ and manifest.csv.")],
) -> None:
    """Export the records a clinician confirmed or corrected (dataset 'ward', subject = opaque baby id)."""
    from neopain.app import AppSettings, ImageStore, export_labelled, make_engine, session_factory, upgrade

    settings = AppSettings()
    with user_errors(OSError, ValueError):
        engine = make_engine(settings.database_url)
        upgrade(engine)
        with session_factory(engine)() as db:
            summary = export_labelled(db, ImageStore(settings.images_dir), out)
    console.print(f"exported {summary.exported} confirmed records to {summary.manifest}")
    if summary.missing_images:
        console.print(f"[yellow]{summary.missing_images} records skipped: image file missing[/yellow]")
