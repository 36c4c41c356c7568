"""The README's demo, shrunk: every stage runs from synthetic data to an int8 model and a report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from neopain.cli import app
from neopain.data.manifest import read_manifest


def test_quick_demo_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quick", "--no-serve"])
    assert result.exit_code == 0, result.output
    train_subjects = {s.subject for s in read_manifest(out / "faces" / "faces.csv")}
    test_subjects = {s.subject for s in read_manifest(out / "faces-test" / "faces.csv")}
    assert train_subjects and test_subjects
    # Table II is measured on babies the final model never saw; same ids would mean the same seed.
    train_images = {p.read_bytes() for p in (out / "synthetic" / "images").glob("*.png")}
    assert not train_images & {p.read_bytes() for p in (out / "synthetic-test" / "images").glob("*.png")}
    report = (out / "evaluation" / "report.md").read_text()
    assert "image-wise" in report and "subject-independent" in report
    card = json.loads((out / "evaluation" / "final" / "model_card.json").read_text())
    assert card["synthetic"] is True and card["evaluation"] and card["threshold"]
    table = json.loads((out / "model.table_ii.json").read_text())
    assert table["test_crops"] == len(read_manifest(out / "faces-test" / "faces.csv"))
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size
    # The demo's model codes the NFCS actions, and its observation windows are measured on synthetic video.
    assert json.loads((out / "evaluation" / "final" / "model_config.json").read_text())["actions"]
    windows = json.loads((out / "video-evaluation" / "results.json").read_text())
    assert windows["pipp_r"]["windows"] >= 1 and windows["nfcs_p3"]["windows"] >= 1
    assert windows["pipp_r"]["scored_without_face"] == 0
