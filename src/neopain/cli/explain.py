"""``neopain explain``: Integrated Gradients maps, NFCS region scores and a gallery for faces or images."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, track, user_errors
from neopain.core.weights import WeightsError
from neopain.data import ManifestError
from neopain.pixels.imageio import ImageError


class Baseline(str, Enum):
    black = "black"
    blur = "blur"
    noise = "noise"


class Output(str, Enum):
    probability = "probability"
    logit = "logit"


@app.command("explain")
def explain_command(
    checkpoint: Annotated[Path, typer.Argument(help="training checkpoint (best.pt)")],
    inputs: Annotated[
        list[Path],
        typer.Argument(help="faces manifest CSV (crops), image manifest CSV, image files or folders"),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")],
    baseline: Annotated[Baseline, typer.Option(help="IG reference image")] = Baseline.black,
    steps: Annotated[int, typer.Option(help="first number of IG steps (doubled until complete)")] = 50,
    max_steps: Annotated[int, typer.Option(help="the most IG steps")] = 800,
    tolerance: Annotated[float, typer.Option(help="largest relative completeness gap accepted")] = 0.05,
    output: Annotated[
        Output, typer.Option(help="what is explained: class probability or logit")
    ] = Output.probability,
    target: Annotated[
        str, typer.Option(help="class to explain: predicted, or a label (pain, no_pain)")
    ] = "predicted",
    detector: Annotated[
        str,
        typer.Option(
            help="face detector for images (yunet, retinaface, retinaface-onnx, or a tuned detector's .onnx "
            "file); for crops, where landmarks come from (box: canonical layout)"
        ),
    ] = "yunet",
    margin: Annotated[
        float | None,
        typer.Option(help="crop margin used in training (default: the checkpoint's, from faces extract)"),
    ] = None,
    align: Annotated[
        bool | None,
        typer.Option("--align/--no-align", help="crops were eye-aligned in training (default: the checkpoint's)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="explain at most N inputs")] = None,
    batch_size: Annotated[int, typer.Option(help="crops per IG call (memory)")] = 8,
    internal_batch_size: Annotated[int, typer.Option(help="interpolated images per pass (memory)")] = 64,
    seed: Annotated[int, typer.Option(help="seed of the noise baseline")] = 0,
    smooth: Annotated[
        float,
        typer.Option(help="blur of the signed map before its positive part, as a fraction of the crop side (0: pixels)"),
    ] = 0.03,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N")] = "cpu",
    embed: Annotated[bool, typer.Option("--embed/--link", help="inline pictures in index.html")] = True,
) -> None:
    """Integrated Gradients (as the paper, black baseline) with NFCS region scores: PNGs, regions.csv,
    summary.json and index.html under OUT."""
    from neopain.explain import IGSettings, InputError, RunOptions, run_explain
    from neopain.train import CheckpointError

    with user_errors(ValueError):
        ig = IGSettings(
            baseline=baseline.value,
            n_steps=steps,
            max_steps=max_steps,
            tolerance=tolerance,
            output=output.value,
            target=target,
            internal_batch_size=internal_batch_size,
            seed=seed,
            smooth=smooth,
        )
        options = RunOptions(
            ig=ig,
            detector=detector,
            margin=margin,
            align=align,
            batch_size=batch_size,
            limit=limit,
            embed=embed,
            device=device,
        )
    # ValueError: a --target that is not one of the checkpoint's labels.
    errors = (
        CheckpointError,
        InputError,
        ManifestError,
        ImageError,
        WeightsError,
        FileNotFoundError,
        ValueError,
    )
    with user_errors(*errors):
        result = run_explain(
            checkpoint, inputs, out, options, progress=lambda b, _: track(b, "explaining batches")
        )
    summary = result.summary
    comp = summary["completeness"]
    console.print(
        f"explained {summary['explained']} of {summary['images']}; completeness gap max {comp['max_gap']}, "
        f"steps {comp['steps_used']}; not converged {comp['not_converged']}",
        markup=False,
        highlight=False,
    )
    for failure in summary["failed"][:10]:
        console.print(
            f"  not explained {failure['input']}: {failure['reason']}", markup=False, highlight=False
        )
    for name, entry in summary["by_label"].items():
        if entry.get("true_present_mean") is not None:
            console.print(
                f"  label {name}: share in true present regions {entry['true_present_mean']}",
                markup=False,
                highlight=False,
            )
    console.print(
        f"wrote {out / 'index.html'}, {out / 'regions.csv'}, {out / 'summary.json'}",
        markup=False,
        highlight=False,
    )
