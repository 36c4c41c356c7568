"""``neopain data synth``: the synthetic neonatal face benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import data_app
from neopain.cli.common import console, track, user_errors
from neopain.data import ManifestError, read_manifest, summarize
from neopain.imageio import ImageError

Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder (images/, masks/, manifest.csv).")]
Subjects = Annotated[int, typer.Option("--subjects", min=1, help="Number of synthetic babies.")]
PerSubject = Annotated[int, typer.Option("--images-per-subject", min=1, help="Images per baby.")]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Same seed, same bytes.")]
Size = Annotated[int, typer.Option("--size", min=32, help="Image side in pixels.")]
LabelNoise = Annotated[
    float, typer.Option("--label-noise", min=0.0, max=0.5, help="Probability of flipping a label.")
]


@data_app.command("synth")
def synth(
    out: Out,
    subjects: Subjects = 30,
    images_per_subject: PerSubject = 12,
    seed: Seed = 0,
    size: Size = 256,
    label_noise: LabelNoise = 0.02,
) -> None:
    """Generate synthetic newborn faces with known NFCS actions, labels and region masks."""
    from neopain.data import synthesize

    with user_errors(ValueError, OSError, ManifestError, ImageError):
        manifest = synthesize(
            out,
            subjects=subjects,
            images_per_subject=images_per_subject,
            seed=seed,
            size=size,
            label_noise=label_noise,
            progress=track,
        )
        summary = summarize(read_manifest(manifest))
    labels = ", ".join(f"{name}: {count}" for name, count in sorted(summary["labels"].items()))  # type: ignore[union-attr]
    console.print(f"wrote {summary['images']} images of {summary['subjects']} subjects ({labels})")
    typer.echo(str(manifest))
