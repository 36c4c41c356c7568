"""``neopain evaluate``: the paper's protocol and the subject-independent one, a report, a model card."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, user_errors
from neopain.data import ManifestError, binary_task, read_manifest
from neopain.pixels.imageio import ImageError

PROTOCOL_CHOICES = {"paper": ("paper",), "subject": ("subject",), "both": ("paper", "subject")}


def _errors():
    # ValueError covers SplitError/ProtocolError, ResultsError, TrainDataError, ModelError, CheckpointError.
    return user_errors(ManifestError, ImageError, ValueError)


def _split_list(text: str, what: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise typer.BadParameter(f"{what}: give at least one, comma-separated")
    return items


def _designs(text: str | None) -> tuple[tuple[str, ...], ...] | None:
    """'icope,unifesp,icope+unifesp' -> (('icope',), ('unifesp',), ('icope', 'unifesp'))."""
    if text is None:
        return None
    return tuple(tuple(part.split("+")) for part in _split_list(text, "--train-on"))


@app.command("evaluate")
def evaluate_command(
    faces: Annotated[Path, typer.Argument(help="faces manifest CSV (square face crops)")],
    out: Annotated[
        Path, typer.Option(help="output folder, e.g. runs/NAME (rerun the same command to resume)")
    ],
    protocol: Annotated[
        str, typer.Option(help="paper (image-wise) | subject (subject-independent) | both")
    ] = "both",
    models: Annotated[
        str, typer.Option(help="comma-separated, e.g. mobilenet_v2,vggface16,ncnn")
    ] = "mobilenet_v2",
    repeats: Annotated[int, typer.Option(help="repeated hold-outs per protocol (the paper: 10)")] = 10,
    folds: Annotated[int, typer.Option(help="> 0: subject-independent k-fold, not repeated hold-out")] = 0,
    test_size: Annotated[float, typer.Option(help="held-out share per repetition (the paper: 0.2)")] = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    jobs: Annotated[
        int, typer.Option(help="repetitions trained side by side, each with its share of the CPU threads")
    ] = 1,
    epochs: Annotated[int, typer.Option(help="most training epochs per repetition")] = 100,
    batch_size: Annotated[int, typer.Option()] = 16,
    input_size: Annotated[int | None, typer.Option(help="default: each model's own")] = None,
    augment: Annotated[str, typer.Option(help="offline | online | none | nicu (online + ward copies)")] = "offline",
    copies: Annotated[int, typer.Option(help="augmented copies per face in offline mode")] = 20,
    patience: Annotated[int, typer.Option()] = 5,
    finetune: Annotated[
        str, typer.Option(help="paper (head, then last stages) | all (every layer at once) | late (all but the first two stages)")
    ] = "paper",
    lr_head: Annotated[float, typer.Option(help="phase 1 learning rate (the paper: 1e-4)")] = 1e-4,
    lr_finetune: Annotated[float, typer.Option(help="phase 2 learning rate (the paper: 1e-6)")] = 1e-6,
    monitor: Annotated[str, typer.Option(help="plateau on validation 'loss' (CE + L1, as Keras), 'ce', or 'auc' (mean AUC of pain and actions)")] = "loss",
    pretrained: Annotated[bool, typer.Option(help="start from the backbone's pretrained weights")] = True,
    weights: Annotated[Path | None, typer.Option(help="backbone weight file (VGG-Face)")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    baseline: Annotated[bool, typer.Option(help="also fit the pixel logistic-regression baseline")] = True,
    train_on: Annotated[
        str | None,
        typer.Option(
            help="training sets, e.g. icope,unifesp,icope+unifesp (default with 2+ datasets: each, then all)"
        ),
    ] = None,
    sensitivity: Annotated[float, typer.Option(help="target sensitivity for the reported threshold")] = 0.95,
    keep_checkpoints: Annotated[
        bool, typer.Option(help="keep every repetition's checkpoints (disk)")
    ] = False,
    final: Annotated[
        bool, typer.Option(help="then train the first model on all faces into OUT/final")
    ] = False,
    final_epochs: Annotated[
        str, typer.Option(help="the final model's epochs: 'plateau' (until the training loss stops falling, "
                               "as the paper) or 'cv' (the repetitions' median best epoch: no epoch wasted)")
    ] = "plateau",
    region_prior: Annotated[
        float, typer.Option(help="> 0: weight of the NFCS region prior in training (see `neopain train`)")
    ] = 0.0,
    region_source: Annotated[str, typer.Option(help="regions for the prior: auto | mask | placed")] = "auto",
    targets: Annotated[
        str, typer.Option(help="pain | pain,nfcs (the multi-task model; NFCS tables in the report)")
    ] = "pain",
    nfcs_version: Annotated[str, typer.Option(help="NFCS version of the score: nfcs-10 | nfcs-8 | nfcs-p-3")] = (
        "nfcs-10"
    ),
    region_occlusion: Annotated[
        float, typer.Option(help="share of NFCS-labelled faces also trained with one region blurred (see train)")
    ] = 0.0,
) -> None:
    """Evaluate models with the paper's protocol and the subject-independent one; write the report."""
    from neopain.evaluate import (
        EvalConfig,
        cv_epochs,
        run_protocol,
        train_final,
        write_model_card,
        write_report,
    )
    from neopain.train import TrainConfig

    if final_epochs not in ("plateau", "cv"):
        raise typer.BadParameter(f"--final-epochs must be 'plateau' or 'cv', got '{final_epochs}'")
    if protocol not in PROTOCOL_CHOICES:
        raise typer.BadParameter(f"--protocol must be one of {', '.join(PROTOCOL_CHOICES)}, got '{protocol}'")
    with _errors():
        samples = binary_task(read_manifest(faces))
        train_config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            input_size=input_size,
            augment=augment,
            copies=copies,
            patience=patience,
            lr_head=lr_head,
            lr_finetune=lr_finetune,
            finetune=finetune,
            monitor=monitor,
            device=device,
            pretrained=pretrained,
            seed=seed,
            weights_path=str(weights) if weights else None,
            region_prior=region_prior,
            region_source=region_source,
            targets=_split_list(targets, "--targets"),
            nfcs_version=nfcs_version,
            region_occlusion=region_occlusion,
        )
        config = EvalConfig(
            protocols=PROTOCOL_CHOICES[protocol],
            models=_split_list(models, "--models"),
            repeats=repeats,
            folds=folds,
            test_size=test_size,
            seed=seed,
            baseline=baseline,
            designs=_designs(train_on),
            keep_checkpoints=keep_checkpoints,
            sensitivity=sensitivity,
            train=train_config,
        )
        run_protocol(samples, faces, out, config, workers=jobs)
        md, page = write_report(out, sensitivity)
        console.print(f"report: {md} and {page}")
        if final:
            final_config, chosen = train_config, None
            if final_epochs == "cv" and (chosen := cv_epochs(out, config.models[0])) is not None:
                # A fixed length, so no plateau wait either: patience past the last epoch.
                final_config = replace(train_config, epochs=chosen, patience=chosen + 1)
                console.print(f"final model: {chosen} epochs (the repetitions' median best epoch)")
            result = train_final(samples, faces, config.models[0], out / "final", final_config)
            card_json, _ = write_model_card(
                out / "final",
                samples,
                out,
                result.config,
                train_config={**final_config.to_dict(), "final": True, "final_epochs": final_epochs},
                checkpoint=result.checkpoint,
                sensitivity=sensitivity,
            )
            console.print(f"final model: {result.checkpoint}; card: {card_json}")
