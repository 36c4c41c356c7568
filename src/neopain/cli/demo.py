"""``neopain demo``: every stage on synthetic data, run as the commands a user would type, then the app."""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from typer.main import get_command

from neopain.cli.apps import app
from neopain.cli.common import console


@dataclass(frozen=True)
class DemoScale:
    """How big the demo runs: the default takes about 5.5 minutes on a 2-core CPU."""

    subjects: int
    images_per_subject: int
    size: int
    input_size: int
    repeats: int
    epochs: int
    patience: int  # epochs without a better validation loss before a repetition stops
    augment: str
    test_subjects: int  # held-out babies for Table II: at 30 (360 faces) one flipped label moves a metric ~0.5 pp
    video_subjects: int  # synthetic video babies the observation windows are measured on
    video_seconds: float
    video_fps: float
    jobs: int  # processes side by side (synthesis, repetitions)


FULL = DemoScale(subjects=30, images_per_subject=12, size=256, input_size=112, repeats=3, epochs=40,
                 patience=3, augment="online", test_subjects=30, video_subjects=2, video_seconds=120.0, video_fps=5.0,
                 jobs=2)
# --quick: a smoke run of every stage in about a minute (the test suite uses it).
QUICK = DemoScale(subjects=6, images_per_subject=6, size=96, input_size=32, repeats=2, epochs=2,
                  patience=8, augment="none", test_subjects=4, video_subjects=1, video_seconds=32.0, video_fps=2.0,
                  jobs=1)


def run_step(title: str, args: list[str]) -> float:
    """Run one ``neopain`` command in this process, printing it as a user would type it; its seconds."""
    console.rule(title)
    console.print("$ neopain " + shlex.join(args), markup=False, highlight=False)
    started = time.perf_counter()
    code = get_command(app).main(args, prog_name="neopain", standalone_mode=False)
    if code not in (None, 0):
        raise typer.Exit(int(code))
    seconds = time.perf_counter() - started
    console.print(f"({seconds:.0f} s)", markup=False, highlight=False)
    return seconds


def print_times(times: list[tuple[str, float]]) -> None:
    """How long each step took, and the whole."""
    console.rule("time per step")
    for title, seconds in times:
        console.print(f"{seconds:7.1f} s  {title}", markup=False, highlight=False)
    console.print(f"{sum(s for _, s in times):7.1f} s  in all", markup=False, highlight=False)


def pipeline_steps(out: Path, scale: DemoScale, seed: int) -> list[tuple[str, list[str]]]:
    """The demo's commands: synthesise -> faces -> evaluate (+ final model and card) -> export -> video."""
    synth, faces, runs = out / "synthetic", out / "faces", out / "evaluation"
    # Table II needs faces the final model never saw: new synthetic babies from another seed.
    test_synth, test_faces = out / "synthetic-test", out / "faces-test"
    final = runs / "final" / "best.pt"
    model = out / "model.onnx"
    videos = out / "videos"
    return [
        ("1. synthetic newborn faces (known answer)", [
            "data", "synth", "--out", str(synth), "--subjects", str(scale.subjects),
            "--images-per-subject", str(scale.images_per_subject), "--size", str(scale.size),
            "--seed", str(seed), "--jobs", str(scale.jobs)]),
        ("2. validate the manifest", ["data", "validate", str(synth / "manifest.csv")]),
        ("3. face crops (boxes from the manifest)", [
            "faces", "extract", str(synth / "manifest.csv"), "--detector", "box", "--out", str(faces),
            "--size", str(scale.input_size)]),
        ("4. evaluation of P(pain) and the NFCS actions, both protocols, then the final model", [
            "evaluate", str(faces / "faces.csv"), "--protocol", "both", "--models", "mobilenet_v2",
            "--out", str(runs), "--repeats", str(scale.repeats), "--epochs", str(scale.epochs),
            "--input-size", str(scale.input_size), "--augment", scale.augment, "--seed", str(seed),
            # Two one-thread trainings at a time get more done than one two-thread training.
            "--jobs", str(scale.jobs),
            # ImageNet features are not face features: train every layer but the first two stages (the
            # edges any image has; 1.3x faster, same AUC: docs/TRAINING.md).
            "--finetune", "late", "--monitor", "ce", "--patience", str(scale.patience), "--final",
            # The final model trains as long as the repetitions found best: no plateau wait on all faces.
            "--final-epochs", "cv", "--targets", "pain,nfcs"]),
        ("5. held-out synthetic babies for Table II", [
            "data", "synth", "--out", str(test_synth), "--subjects", str(scale.test_subjects),
            "--images-per-subject", str(scale.images_per_subject), "--size", str(scale.size),
            "--seed", str(seed + 1000), "--jobs", str(scale.jobs)]),
        ("6. their face crops", [
            "faces", "extract", str(test_synth / "manifest.csv"), "--detector", "box", "--out",
            str(test_faces), "--size", str(scale.input_size)]),
        ("7. ONNX export, int8, and Table II on the held-out babies", [
            "export", str(final), "--out", str(model), "--int8", "static",
            "--calibration", str(faces / "faces.csv"), "--table-ii", str(test_faces / "faces.csv")]),
        ("8. synthetic videos of unseen babies (rest, procedure, recovery; per-frame truth)", [
            "data", "synth-video", "--out", str(videos), "--subjects", str(scale.video_subjects),
            "--seconds", f"{scale.video_seconds:g}", "--fps", f"{scale.video_fps:g}", "--size",
            str(scale.size), "--seed", str(seed + 2000), "--jobs", str(scale.jobs)]),
        ("9. observation windows (PIPP-R facial items, NFCS-P-3 epochs) against the video truth", [
            "evaluate-video", str(out / "model.int8.onnx"), str(videos), "--out", str(out / "video-evaluation"),
            "--fps", f"{scale.video_fps:g}", "--jobs", str(scale.jobs)]),
    ]


def serve_demo(out: Path, host: str, port: int) -> None:
    """Create a first login and serve the app with the model the demo just made."""
    from neopain.app import AppSettings, first_login

    os.environ["NEOPAIN_DATA_DIR"] = str(out / "app")
    model = out / "model.int8.onnx"
    checkpoint = out / "evaluation" / "final" / "best.pt"  # what step 7 exported: explains the served model
    password = first_login(AppSettings())
    console.rule("10. the bedside app")
    if password:
        console.print(f"first login: user 'nurse', password '{password}' (shown once)", markup=False)
    else:
        console.print("first login: user 'nurse' exists already (password shown on the first run)")
    console.print("The demo model is trained on SYNTHETIC faces: it says nothing about real newborns.")
    run_step("serving (Ctrl-C to stop)", [
        "serve", "--model", str(model), "--explain-checkpoint", str(checkpoint), "--host", host,
        "--port", str(port)])


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for every stage's output")] = Path("demo"),
    seed: Annotated[int, typer.Option()] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="tiny smoke run of every stage")] = False,
    serve: Annotated[bool, typer.Option(help="end by serving the bedside app")] = True,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """The whole pipeline on synthetic faces, then the bedside app with the model it trained."""
    console.print("neopain demo: research software, not a medical device; all data here is synthetic.")
    times = [(title, run_step(title, args)) for title, args in pipeline_steps(out, QUICK if quick else FULL, seed)]
    print_times(times)
    console.print(f"report: {out / 'evaluation' / 'report.html'}")
    if serve:
        serve_demo(out, host, port)
