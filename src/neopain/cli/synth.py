"""``neopain data synth`` and ``neopain data synth-video``: the synthetic neonatal face benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import data_app
from neopain.cli.common import console, track, user_errors
from neopain.data import ManifestError, read_manifest, summarize
from neopain.pixels.imageio import ImageError

Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder (images/, masks/, manifest.csv).")]
Subjects = Annotated[int, typer.Option("--subjects", min=1, help="Number of synthetic babies.")]
PerSubject = Annotated[int, typer.Option("--images-per-subject", min=1, help="Images per baby.")]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Same seed, same bytes.")]
Size = Annotated[int, typer.Option("--size", min=32, help="Image side in pixels.")]
Jobs = Annotated[
    int, typer.Option("--jobs", min=1, help="Processes rendering side by side (the same bytes for any number).")
]
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
    preset: Annotated[
        str, typer.Option("--preset", help="benchmark (default) or nicu: any angle, phototherapy, infrared, "
                          "CPAP, pacifier, tape, a caregiver's hand")
    ] = "benchmark",
    sites: Annotated[
        int, typer.Option("--sites", min=0, max=3, help="Write that many synthetic hospitals (OUT/hospital-a, "
                          "...), each its own skin tones, light, camera and pain prevalence (docs/FEDERATED.md).")
    ] = 0,
    jobs: Jobs = 1,
) -> None:
    """Generate synthetic newborn faces with known NFCS actions, labels and region masks."""
    from neopain.data import synthesize

    if sites:
        _synth_sites(out, sites, subjects, images_per_subject, seed, size, label_noise, preset)
        return
    with user_errors(ValueError, OSError, ManifestError, ImageError):
        manifest = synthesize(
            out,
            subjects=subjects,
            images_per_subject=images_per_subject,
            seed=seed,
            size=size,
            label_noise=label_noise,
            progress=track,
            preset=preset,
            workers=jobs,
        )
        summary = summarize(read_manifest(manifest))
    labels = ", ".join(f"{name}: {count}" for name, count in sorted(summary["labels"].items()))  # type: ignore[union-attr]
    console.print(f"wrote {summary['images']} images of {summary['subjects']} subjects ({labels})")
    typer.echo(str(manifest))


def _synth_sites(out: Path, sites: int, subjects: int, images_per_subject: int, seed: int, size: int,
                 label_noise: float, preset: str) -> None:
    from neopain.data import synthesize_sites

    with user_errors(ValueError, OSError, ManifestError, ImageError):
        manifests = synthesize_sites(out, sites, subjects, images_per_subject, seed, size, label_noise, preset,
                                     progress=track)
    for manifest in manifests:
        summary = summarize(read_manifest(manifest))
        console.print(f"{manifest.parent.name}: {summary['images']} images of {summary['subjects']} subjects")
        typer.echo(str(manifest))


VideoOut = Annotated[
    Path, typer.Option("--out", "-o", help="Output folder (videos/, truth.csv, segments.csv, videos.csv).")
]


@data_app.command("synth-video")
def synth_video(
    out: VideoOut,
    subjects: Annotated[int, typer.Option("--subjects", help="Synthetic babies, one video each.")] = 10,
    seconds: Annotated[float, typer.Option("--seconds", help="Length of each video.")] = 120.0,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second.")] = 10.0,
    seed: Seed = 0,
    size: Annotated[int, typer.Option("--size", help="Frame side in pixels.")] = 256,
    jobs: Jobs = 1,
) -> None:
    """Generate synthetic videos (rest, procedure, recovery) with per-frame NFCS truth."""
    from neopain.data import synthesize_videos
    from neopain.pixels.videoio import VideoError

    # VideoConfig checks every value and names the bad one (seconds <= 0, fps <= 0, ...).
    with user_errors(ValueError, OSError, VideoError):
        videos = synthesize_videos(
            out, subjects=subjects, seconds=seconds, fps=fps, seed=seed, size=size, progress=track, workers=jobs
        )
    frames = (videos.parent / "truth.csv").read_text(encoding="utf-8").count("\n") - 1
    console.print(f"wrote {subjects} videos, {frames} frames with their truth")
    typer.echo(str(videos))
