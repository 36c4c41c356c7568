"""``neopain train`` and ``neopain tune`` end to end on tiny faces (CPU)."""

from __future__ import annotations

import json

import optuna
import torch
from _train_helpers import make_faces
from typer.testing import CliRunner

import neopain.cli.train  # noqa: F401  (registers the commands)
from neopain.cli.apps import app
from neopain.data.manifest import binary_task, read_manifest
from neopain.train.checkpoint import load_checkpoint
from neopain.train.trainer import TrainConfig
from neopain.train.tune import run_tune

torch.set_num_threads(1)
runner = CliRunner()


def test_train_command_writes_a_loadable_checkpoint(tmp_path):
    manifest, _ = make_faces(tmp_path, subjects=3, per_class=2, unlabelled=1)
    out = tmp_path / "runs" / "tiny"
    args = ["train", str(manifest), "--model", "ncnn", "--out", str(out), "--epochs", "2", "--batch-size", "4",
            "--input-size", "32", "--augment", "online", "--device", "cpu", "--no-pretrained", "--deterministic"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    _, cfg, ckpt = load_checkpoint(out / "best.pt")
    assert cfg.name == "ncnn" and cfg.input_size == 32 and ckpt["train_config"]["augment"] == "online"
    resumed = runner.invoke(app, [*args[:7], "3", *args[8:], "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len((out / "history.jsonl").read_text().splitlines()) == 3


def test_train_command_reports_bad_input_in_one_line(tmp_path):
    manifest, _ = make_faces(tmp_path, subjects=1, per_class=2)
    result = runner.invoke(app, ["train", str(manifest), "--model", "ncnn", "--out", str(tmp_path / "r"),
                                 "--no-pretrained", "--device", "cpu"])
    assert result.exit_code == 2 and "one subject" in result.output
    result = runner.invoke(app, ["train", str(manifest), "--model", "nope", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2


def test_tune_searches_heads_within_the_papers_ranges(tmp_path):
    manifest, _ = make_faces(tmp_path, subjects=3, per_class=2)
    samples = binary_task(read_manifest(manifest))
    config = TrainConfig(epochs=1, batch_size=4, augment="none", pretrained=False, input_size=32, device="cpu")
    study = run_tune(samples, manifest, "ncnn", tmp_path / "tune", trials=3, config=config, seed=0)
    assert len(study.trials) == 3 and isinstance(study.sampler, optuna.samplers.RandomSampler)
    for trial in study.trials:
        units = trial.user_attrs["units"]
        assert 1 <= len(units) <= 3 and all(50 <= u <= 2048 for u in units)
    summary = json.loads((tmp_path / "tune" / "tune_summary.json").read_text())
    assert summary["best_value"] == study.best_value
    # The SQLite study persists: a second call adds trials to the same study.
    again = run_tune(samples, manifest, "ncnn", tmp_path / "tune", trials=1, config=config, seed=1)
    assert len(again.trials) == 4


def test_tune_command_runs_a_tpe_study(tmp_path):
    manifest, _ = make_faces(tmp_path, subjects=3, per_class=2)
    out = tmp_path / "tune"
    args = ["tune", str(manifest), "--model", "ncnn", "--out", str(out), "--trials", "2", "--sampler", "tpe",
            "--epochs", "1", "--batch-size", "4", "--input-size", "32", "--augment", "none", "--device", "cpu",
            "--no-pretrained", "--storage", f"sqlite:///{tmp_path / 'shared.db'}", "--study", "s1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shared.db").is_file()
    study = optuna.load_study(study_name="s1", storage=f"sqlite:///{tmp_path / 'shared.db'}")
    assert len(study.trials) == 2 and "best trial" in result.output
