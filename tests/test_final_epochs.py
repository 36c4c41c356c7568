"""The final model's length chosen by the repetitions (``evaluate --final --final-epochs cv``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from neopain.cli import app
from neopain.evaluate import cv_epochs
from neopain.evaluate.results import PAPER, SUBJECT, record_path, write_json


def _record(out: Path, protocol: str, model: str, repeat: int, best_epoch: int | None) -> None:
    info = {} if best_epoch is None else {"best_epoch": best_epoch, "epochs": best_epoch + 4}
    write_json(record_path(out, protocol, "synthetic", model, repeat), {
        "protocol": protocol, "label": protocol, "design": "synthetic", "model": model, "repeat": repeat,
        "n_train": 8, "n_test": 2, "test_paths": ["a.png", "b.png"], "y": [0, 1], "p": [0.2, 0.7],
        "metrics": {"auc": 1.0}, "info": info})


def test_the_median_best_epoch_of_the_subject_independent_repetitions(tmp_path: Path) -> None:
    for repeat, best in enumerate((3, 14, 9)):
        _record(tmp_path, SUBJECT, "mobilenet_v2", repeat, best)
    for repeat, best in enumerate((30, 31)):  # image-wise repetitions do not vote when subject ones exist
        _record(tmp_path, PAPER, "mobilenet_v2", repeat, best)
    _record(tmp_path, SUBJECT, "vggface16", 0, 40)  # another model's record neither
    assert cv_epochs(tmp_path, "mobilenet_v2") == 9


def test_an_even_count_rounds_up_and_image_wise_alone_is_used(tmp_path: Path) -> None:
    for repeat, best in enumerate((4, 7)):
        _record(tmp_path, PAPER, "mobilenet_v2", repeat, best)
    assert cv_epochs(tmp_path, "mobilenet_v2") == 6  # median 5.5, rounded up


def test_no_recorded_best_epoch_gives_none(tmp_path: Path) -> None:
    assert cv_epochs(tmp_path, "mobilenet_v2") is None
    _record(tmp_path, SUBJECT, "mobilenet_v2", 0, None)  # the baseline's records carry no epoch
    assert cv_epochs(tmp_path, "mobilenet_v2") is None


def test_an_unknown_final_epochs_choice_is_refused(tmp_path: Path) -> None:
    faces = tmp_path / "faces.csv"
    faces.write_text("path,subject,label\n")
    result = CliRunner().invoke(app, ["evaluate", str(faces), "--out", str(tmp_path / "runs"), "--final-epochs", "short"])
    assert result.exit_code != 0 and "'plateau' or 'cv'" in result.output
