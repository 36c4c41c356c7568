"""``neopain train`` and ``neopain tune``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from neopain.cli.apps import app
from neopain.cli.common import console, user_errors
from neopain.data import ManifestError, binary_task, read_manifest
from neopain.pixels.imageio import ImageError


def _errors():
    from neopain.models import ModelError
    from neopain.pixels.preprocess import ConfigError
    from neopain.train import CheckpointError, TrainDataError

    return user_errors(ManifestError, ImageError, ModelError, TrainDataError, CheckpointError, ConfigError,
                       ValueError)


def _train_config(**options: Any):
    from neopain.train import TrainConfig

    return TrainConfig(**options)


def _epoch_line(record: dict[str, Any]) -> str:
    val = f" val {record['val_loss']:.4f} acc {record['val_acc']:.3f}" if "val_loss" in record else ""
    return (f"phase {record['phase']} loss {record['train_loss']:.4f} acc {record['train_acc']:.3f}{val} "
            f"{record['images_per_s']:.0f} img/s")


@app.command("train")
def train_command(
    faces: Path = typer.Argument(..., help="faces manifest CSV (square face crops)"),
    model: str = typer.Option("vggface16", help="vggface16 | mobilenet_v2 | resnet18 | ncnn"),
    out: Path = typer.Option(..., help="output folder, e.g. runs/NAME"),
    epochs: int = typer.Option(100, help="most epochs over both phases"),
    batch_size: int = typer.Option(16),
    input_size: int | None = typer.Option(None, help="default: the model's (224 for VGG-Face)"),
    augment: str = typer.Option(
        "offline", help="offline (20 copies per face) | online | none | nicu (online, and half the faces also "
        "as a copy under a ward condition: lamps, infrared, CPAP, pacifier, tape, a hand)"),
    copies: int = typer.Option(20, help="augmented copies per face in offline mode"),
    patience: int = typer.Option(5, help="epochs without validation improvement before phase 2 / stop"),
    val_fraction: float = typer.Option(0.2, help="share of subjects held out for validation"),
    monitor: str = typer.Option("loss", help="plateau on validation 'loss' (CE + L1, as Keras), 'ce', or 'auc' (mean AUC of pain and actions)"),
    finetune: str = typer.Option(
        "paper", help="paper (head, then last stages) | all (every layer at once) | late (all but the first two stages)"
    ),
    lr_head: float = typer.Option(1e-4, help="phase 1 learning rate (the paper: 1e-4)"),
    lr_finetune: float = typer.Option(1e-6, help="phase 2 learning rate (the paper: 1e-6)"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    pretrained: bool = typer.Option(True, help="load the backbone's pretrained weights"),
    weights: Path | None = typer.Option(None, help="backbone weight file (vgg_face_dag.pth or Keras .h5)"),
    resume: bool = typer.Option(False, help="continue from OUT/last.pt"),
    deterministic: bool = typer.Option(False, help="deterministic kernels (slower on GPU)"),
    final: bool = typer.Option(False, help="train on every face, no validation split"),
    region_prior: float = typer.Option(
        0.0, help="> 0: weight of the NFCS region prior (keeps the explanation's attribution in the face regions)"
    ),
    region_source: str = typer.Option("auto", help="regions for the prior: auto | mask (manifest) | placed (box)"),
    targets: str = typer.Option("pain", help="pain, then any of nfcs (one output per NFCS action and a count), visible (per NFCS region: does it show)"),
    nfcs_version: str = typer.Option("nfcs-10", help="NFCS version of the score: nfcs-10 | nfcs-8 | nfcs-p-3"),
    region_occlusion: float = typer.Option(
        0.0, help="share of NFCS-labelled faces also trained with one region blurred and its actions unknown"
    ),
) -> None:
    """Train the pain classifier in the paper's two phases (head, then the last conv groups)."""
    from neopain.train import train

    with _errors():
        samples = binary_task(read_manifest(faces))
        config = _train_config(
            epochs=epochs, batch_size=batch_size, input_size=input_size, augment=augment, copies=copies,
            patience=patience, val_fraction=val_fraction, monitor=monitor, lr_head=lr_head,
            lr_finetune=lr_finetune, finetune=finetune, seed=seed, device=device,
            pretrained=pretrained, weights_path=str(weights) if weights else None, resume=resume,
            deterministic=deterministic, final=final, region_prior=region_prior, region_source=region_source,
            targets=tuple(t.strip() for t in targets.split(",") if t.strip()), nfcs_version=nfcs_version,
            region_occlusion=region_occlusion,
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("epochs", total=epochs)

            def on_epoch(record: dict[str, Any]) -> None:
                progress.update(task, completed=record["epoch"], description=_epoch_line(record))

            result = train(samples, faces, model, out, config, on_epoch=on_epoch)
    console.print(f"{result.stop_reason} after {len(result.history)} epochs; best epoch {result.best_epoch}; "
                  f"checkpoint {result.checkpoint}")


@app.command("tune")
def tune_command(
    faces: Path = typer.Argument(..., help="faces manifest CSV"),
    model: str = typer.Option("vggface16"),
    out: Path = typer.Option(..., help="output folder for trials and the study summary"),
    trials: int = typer.Option(20, help="trials to run (added to an existing study)"),
    sampler: str = typer.Option("random", help="random (as the paper) | tpe"),
    storage: str | None = typer.Option(None, help="Optuna storage URL; default sqlite:///OUT/tune.db"),
    study: str | None = typer.Option(None, help="study name (share one across machines)"),
    epochs: int = typer.Option(30),
    batch_size: int = typer.Option(16),
    input_size: int | None = typer.Option(None),
    augment: str = typer.Option("offline"),
    copies: int = typer.Option(20),
    patience: int = typer.Option(5),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto"),
    pretrained: bool = typer.Option(True),
    weights: Path | None = typer.Option(None),
) -> None:
    """Random search of the head (1-3 layers of 50-2048 units), as the paper."""
    from neopain.train import run_tune

    with _errors():
        samples = binary_task(read_manifest(faces))
        config = _train_config(
            epochs=epochs, batch_size=batch_size, input_size=input_size, augment=augment, copies=copies,
            patience=patience, seed=seed, device=device, pretrained=pretrained,
            weights_path=str(weights) if weights else None,
        )
        result = run_tune(samples, faces, model, out, trials, config, sampler=sampler, storage=storage,
                          study_name=study, seed=seed)
    best = result.best_trial
    console.print(f"best trial {best.number}: units {best.user_attrs.get('units')} value {best.value:.4f}")
