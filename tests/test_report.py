"""`neopain evaluate ... --final` end to end on tiny faces: report.md, report.html and the model card."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from _train_helpers import make_faces
from typer.testing import CliRunner

import neopain.cli.evaluate  # noqa: F401  (registers the command on the app)
from neopain.cli.apps import app
from neopain.evaluate.card import card_summary, model_card
from neopain.evaluate.report import build_report
from neopain.evaluate.results import load_records

torch.set_num_threads(1)

NAN = re.compile(r"(?i:\bnan\b)|\binf%|\bNone\b")  # a NaN, an infinite percentage, a missing value


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    manifest, _ = make_faces(root / "data", subjects=5, per_class=3, size=32)
    out = root / "runs" / "tiny"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(manifest),
            "--protocol",
            "both",
            "--models",
            "ncnn",
            "--out",
            str(out),
            "--repeats",
            "2",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--input-size",
            "32",
            "--augment",
            "none",
            "--no-pretrained",
            "--device",
            "cpu",
            "--sensitivity",
            "0.9",
            "--final",
        ],
    )
    assert result.exit_code == 0, result.output
    return manifest, out


def _table_rows(markdown: str) -> list[list[str]]:
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def test_markdown_report_fills_every_table_and_names_each_protocol(run) -> None:
    _, out = run
    text = (out / "report.md").read_text()
    assert "Synthetic data: these numbers validate the pipeline" in text
    for section in (
        "Table I, image-wise hold-out",
        "Table I, subject-independent hold-out",
        "The gap between the protocols",
        "Statistics, subject-independent hold-out",
        "Threshold for 90% sensitivity",
        "baseline (pixel logistic regression)",
    ):
        assert section in text
    rows = _table_rows(text)
    assert len(rows) > 80
    assert all(cell for row in rows for cell in row), "an empty table cell"
    assert not NAN.search(text)
    # Every table's caption names the split protocol it was measured with.
    captions = re.findall(r"^\*\*(.+)\*\*$", text, flags=re.MULTILINE)
    assert captions and all("hold-out" in c or "gap between the two protocols" in c for c in captions)
    for test in ("one-way ANOVA", "Tukey HSD", "Nadeau-Bengio corrected resampled t-test"):
        assert f"| {test} |" in text
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (out / image).stat().st_size > 1000


def test_html_report_is_self_contained(run) -> None:
    _, out = run
    page = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    assert page.count("data:image/png;base64,") == markdown.count("![") == 6
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing fetched from elsewhere
    assert "<link" not in page and "<script" not in page
    assert page.count("<table>") == sum(line.startswith("|---") for line in markdown.splitlines()) > 10
    assert "<td></td>" not in page
    assert not NAN.search(re.sub(r"base64,[^\"]+", "", page))


def test_report_numbers_come_from_the_saved_repetitions(run) -> None:
    _, out = run
    records = load_records(out)
    assert len(records) == 8 and len(list((out / "results").rglob("*.json"))) == 8
    ncnn_subject = [r for r in records if r.protocol == "subject" and r.model == "ncnn"]
    mean_acc = sum(r.metrics["accuracy"] for r in ncnn_subject) / 2
    table = next(
        b
        for b in build_report(out)
        if getattr(b, "caption", "").startswith("ncnn, subject-independent hold-out")
    )
    accuracy_row = next(row for row in table.rows if row[0] == "Accuracy")
    assert accuracy_row[1].startswith(f"{mean_acc * 100:.1f}%")


def test_final_model_and_card_sit_next_to_the_checkpoint(run) -> None:
    _, out = run
    final = out / "final"
    assert (final / "best.pt").is_file()
    card = json.loads((final / "model_card.json").read_text())
    assert (
        card["synthetic"] is True
        and card["model"]["name"] == "ncnn"
        and card["model"]["checkpoint"] == "best.pt"
    )
    assert card["data"]["labels"] == {"no_pain": 15, "pain": 15} and card["data"]["subjects"] == 5
    assert all(counts == {"no_pain": 3, "pain": 3} for counts in card["data"]["per_subject"].values())
    assert card["model"]["training"]["final"] is True
    protocols = card["evaluation"]["protocols"]
    assert {p["protocol"] for p in protocols.values()} == {
        "image-wise hold-out",
        "subject-independent hold-out",
    }
    for section in protocols.values():
        auc = section["metrics_at_0_5"]["roc_auc"]
        assert 0 <= auc["ci95_low"] <= auc["mean"] <= auc["ci95_high"] <= 1 and auc["repetitions"] == 2
        assert sum(section["calibration"]["bins"]["count"]) == 2 * section["test_images_per_repetition"]
    threshold = card["threshold"]
    assert 0 <= threshold["value"] <= 1 and threshold["target_sensitivity"] == 0.9
    assert threshold["sensitivity"] >= 0.9 and "subject-independent" in threshold["chosen_on"]
    text = (final / "model_card.md").read_text()
    assert "SYNTHETIC" in text and "## Limits" in text and not NAN.search(text)


def test_card_summary_keeps_what_the_bedside_needs_in_a_few_lines(run) -> None:
    card = json.loads((run[1] / "final" / "model_card.json").read_text())
    summary = card_summary(card)
    assert summary["synthetic"] is True and summary["limits"] == card["limits"]
    assert summary["threshold"]["value"] == card["threshold"]["value"]
    assert "30 images of 5 subjects" in summary["data"]
    assert set(summary["evaluation"]) == {"image-wise hold-out", "subject-independent hold-out"}
    assert all("ROC AUC" in line and "repetitions" in line for line in summary["evaluation"].values())
    assert len(json.dumps(summary)) < len(json.dumps(card)) / 2
    assert card_summary({"name": "theirs"}) == {"name": "theirs"}  # another schema passes unchanged


def test_card_without_evaluation_says_so(run) -> None:
    _, out = run
    config = json.loads((out / "final" / "model_config.json").read_text())
    card = model_card([], None, config)
    assert card["evaluation"]["protocols"] == {} and card["threshold"]["value"] == 0.5
    assert card["limits"][0].startswith("No evaluation")


def test_cli_rejects_an_unknown_protocol_before_writing(tmp_path: Path) -> None:
    manifest, _ = make_faces(tmp_path / "data", subjects=2, per_class=1, size=24)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["evaluate", str(manifest), "--protocol", "holdout", "--out", str(out)])
    assert result.exit_code != 0 and not out.exists()
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(manifest),
            "--protocol",
            "subject",
            "--folds",
            "5",
            "--models",
            "ncnn",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2 and "cannot make 5 subject-wise folds" in result.output and not out.exists()


@pytest.mark.parametrize(
    "baseline_auc, verdict",
    [
        (0.70, "stays clearly below"),
        (0.88, "comes close"),
        (0.99, "beats the CNN"),
    ],
)
def test_baseline_check_compares_the_baseline_with_the_best_cnn(baseline_auc: float, verdict: str) -> None:
    import numpy as np

    from neopain.evaluate.report import baseline_check
    from neopain.evaluate.results import Record, group

    def record(model: str, auc: float, repeat: int) -> Record:
        return Record(
            "subject",
            "subject-independent hold-out",
            "synthetic",
            model,
            repeat,
            8,
            2,
            ("a.png", "b.png"),
            np.array([0, 1]),
            np.array([0.2, 0.8]),
            {"roc_auc": auc},
            {},
        )

    records = [record("cnn_a", 0.90, r) for r in range(2)] + [record("cnn_b", 0.80, r) for r in range(2)]
    records += [record("baseline", baseline_auc, r) for r in range(2)]
    sentence = baseline_check(group(records), "subject")
    assert verdict in sentence and "subject-independent" in sentence and "cnn_a 0.900" in sentence
    assert baseline_check(group(records[:4]), "subject") is None  # no baseline, nothing to say


def test_table_one_by_test_dataset_scores_each_held_out_dataset_alone() -> None:
    import numpy as np

    from neopain.evaluate.breakdown import breakdown_table
    from neopain.evaluate.metrics import binary_metrics
    from neopain.evaluate.results import Record, group

    y = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    # Perfect on dataset a (first four), inverted on dataset b: the pooled column hides both.
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.3, 0.4, 0.6])
    datasets = ("a",) * 4 + ("b",) * 4

    def record(design: str, repeat: int, with_datasets: bool = True, labels: np.ndarray = y) -> Record:
        paths = tuple(f"{i}.png" for i in range(8))
        return Record(
            "subject", "subject-independent hold-out", design, "cnn", repeat, 20, 8, paths, labels,
            p + repeat * 0.01, binary_metrics(labels, p), {}, datasets if with_datasets else (),
        )

    groups = group([record(d, r) for d in ("a", "b", "a+b") for r in range(2)])
    b_one_class = np.array([0, 1, 0, 1, 1, 1, 1, 1])  # dataset b's held-out part is all pain here
    with_gap = group([record("a", 0), record("a", 1, labels=b_one_class)])
    gap_row = next(row for row in breakdown_table(with_gap, "subject", "cnn", "x").rows if row[0] == "ROC AUC")
    assert gap_row[1] == "1.000 ± 0.000" and gap_row[2] == "0.000 (n=1)"  # says a repetition gave no value
    table = breakdown_table(groups, "subject", "cnn", "subject-independent hold-out")
    assert table is not None and "subject-independent" in table.caption
    assert table.header[1:3] == ["trained on a, tested on a", "trained on a, tested on b"]
    assert len(table.header) == 1 + 3 * 2  # three training sets x two test datasets
    auc = next(row for row in table.rows if row[0] == "ROC AUC")
    assert auc[1].startswith("1.000") and auc[2].startswith("0.000")
    old = group([record("a", r, with_datasets=False) for r in range(2)])
    assert breakdown_table(old, "subject", "cnn", "subject-independent hold-out") is None
