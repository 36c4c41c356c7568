"""``report.md`` and a self-contained ``report.html`` from an evaluation folder's saved repetitions.

Works on whatever repetitions are saved (a report of an interrupted run says how many each cell has).
No torch here: only the records' predictions are used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neopain.evaluate import plots
from neopain.evaluate import tables as tb
from neopain.evaluate.breakdown import breakdown_table
from neopain.evaluate.nfcs_report import nfcs_blocks
from neopain.evaluate.render import Block, Heading, Image, Paragraph, to_html, to_markdown, write_images
from neopain.evaluate.results import (
    BASELINE,
    ORACLE,
    PAPER,
    PROTOCOL_KEYS,
    REFERENCES,
    RUN_FILE,
    SUBJECT,
    ResultsError,
    group,
    load_records,
    read_json,
)

REPORT_MD, REPORT_HTML, IMAGE_DIR = "report.md", "report.html", "report_files"
TITLE = "neopain evaluation report"
SYNTHETIC_NOTE = (
    "Synthetic data: these numbers validate the pipeline (splits, training, metrics, report); "
    "they are never a clinical claim about real newborns."
)
NOT_A_DEVICE = "Research software, not a medical device."
TOO_EASY_MARGIN = 0.05  # baseline AUC within this of the best CNN: the data say little about the CNN

PROTOCOL_TEXT = {
    PAPER: (
        "The paper's protocol: random stratified hold-outs of images. The same baby appears in training "
        "and test, so these numbers measure recognition of known babies and are optimistic."
    ),
    SUBJECT: (
        "Subject-independent: whole babies are held out, no subject is on both sides (the code asserts "
        "it). These are the numbers to decide anything on: they estimate performance on a new baby."
    ),
}


def _run_info(out_dir: Path) -> dict[str, Any]:
    run_file = out_dir / RUN_FILE
    return read_json(run_file) if run_file.is_file() else {}


def _label(info: Mapping[str, Any], groups: tb.Groups, protocol: str) -> str:
    labels = info.get("protocol_labels", {})
    if protocol in labels:
        return labels[protocol]
    return next(r.label for (p, _, _), rs in groups.items() if p == protocol for r in rs)


def _header(info: Mapping[str, Any], groups: tb.Groups) -> list[Block]:
    blocks: list[Block] = [Heading(TITLE, 1)]
    if info.get("synthetic"):
        blocks.append(Paragraph(SYNTHETIC_NOTE, warning=True))
    blocks.append(Paragraph(NOT_A_DEVICE))
    data, settings = info.get("data", {}), info.get("settings", {})
    if data:
        labels = ", ".join(f"{k}: {v}" for k, v in data.get("labels", {}).items())
        blocks.append(
            Paragraph(
                f"Data: {data.get('images')} images of {data.get('subjects')} subjects ({labels}); "
                f"datasets: {', '.join(info.get('datasets', [])) or 'one'}."
            )
        )
    if settings:
        train = settings.get("train", {})
        blocks.append(
            Paragraph(
                f"Settings: {settings.get('repeats')} repetitions, test size {settings.get('test_size')}, "
                f"subject folds {settings.get('folds') or 'none (repeated hold-out)'}, seed {settings.get('seed')}; "
                f"training: at most {train.get('epochs')} epochs, augmentation {train.get('augment')}, input size "
                f"{train.get('input_size') or 'model default'}, pretrained {train.get('pretrained')}. Validation is "
                "carved from each training part only."
            )
        )
    models = ", ".join(tb.model_title(m) for m in tb.models_of(groups))
    blocks.append(Paragraph(f"Models: {models}. Every number below names its split protocol."))
    return blocks


def _by_model(groups: tb.Groups, protocol: str, design: str) -> dict[str, list]:
    return {
        m: list(groups[protocol, design, m]) for m in tb.models_of(groups) if (protocol, design, m) in groups
    }


def _protocol_blocks(groups: tb.Groups, protocol: str, label: str, target: float) -> list[Block]:
    design = tb.main_design(groups, protocol)
    by_model = _by_model(groups, protocol, design)
    blocks: list[Block] = [Heading(f"Table I, {label}"), Paragraph(PROTOCOL_TEXT[protocol])]
    for model in by_model:
        blocks.append(tb.table_one(groups, protocol, model, label))
        by_test = breakdown_table(groups, protocol, model, label)
        blocks += [by_test] if by_test else []
    blocks += [
        Heading(f"All models, {label} (trained on {design})", 3),
        tb.models_table(groups, protocol, design, label),
        tb.ci_table(groups, protocol, design, label),
    ]
    where = f"{label}, trained on {design}"
    blocks += [
        Heading(f"Figures, {label}", 3),
        Image(
            f"roc_{protocol}.png", plots.roc_figure(by_model, f"ROC curves, {where}"), f"ROC curves, {where}"
        ),
        Image(
            f"box_{protocol}.png",
            plots.box_figure(by_model, f"Per-repetition metrics, {where}"),
            f"Box plot per metric per model over repetitions, {where}",
        ),
        Image(
            f"calibration_{protocol}.png",
            plots.calibration_figure(by_model, f"Calibration, {where}"),
            f"Calibration (pooled test predictions), {where}",
        ),
        Heading(f"Threshold and errors, {label}", 3),
        tb.threshold_table(groups, protocol, design, label, target),
        tb.confusion_table(groups, protocol, design, label),
    ]
    if tb.pairs_available(groups, protocol, design):
        blocks += [Heading(f"Statistics, {label}", 3), tb.stats_table(groups, protocol, design, label)]
    return blocks


def _gap_blocks(groups: tb.Groups, labels: Mapping[str, str]) -> list[Block]:
    designs = [d for d in tb.designs_of(groups, PAPER) if d in tb.designs_of(groups, SUBJECT)]
    if not designs:
        return []
    blocks: list[Block] = [Heading("The gap between the protocols")]
    blocks += [tb.gap_table(groups, labels[PAPER], labels[SUBJECT], d, (PAPER, SUBJECT)) for d in designs]
    return blocks


def _mean_aucs(groups: tb.Groups, protocol: str) -> dict[str, float]:
    design = tb.main_design(groups, protocol)
    return {
        m: float(np.nanmean([r.metrics["roc_auc"] for r in groups[protocol, design, m]]))
        for m in tb.models_of(groups)
        if (protocol, design, m) in groups
    }


def _best_cnn(aucs: Mapping[str, float]) -> str | None:
    cnns = [m for m in aucs if m not in REFERENCES]
    return max(cnns, key=aucs.__getitem__) if cnns else None


def baseline_check(groups: tb.Groups, protocol: str) -> str | None:
    """A sentence comparing the baseline's mean AUC to the best CNN's, or None without a baseline."""
    aucs = _mean_aucs(groups, protocol)
    best = _best_cnn(aucs)
    if BASELINE not in aucs or best is None:
        return None
    gap = aucs[best] - aucs[BASELINE]
    if math.isnan(gap) or gap <= -TOO_EASY_MARGIN:
        verdict = "beats the CNN: the CNN is under-trained, or these data say little about it"
    elif gap < TOO_EASY_MARGIN:
        verdict = "comes close to the CNN: these data are too easy to say anything about the CNN"
    else:
        verdict = "stays clearly below the CNN"
    return (
        f"Baseline check ({protocol_word(protocol)}): pixel logistic regression mean AUC "
        f"{aucs[BASELINE]:.3f} vs {best} {aucs[best]:.3f} (difference {gap:+.3f}); the baseline {verdict}."
    )


def oracle_check(groups: tb.Groups, protocol: str) -> str | None:
    """A sentence placing the best CNN between the baseline and the NFCS oracle, or None without an oracle."""
    aucs = _mean_aucs(groups, protocol)
    best = _best_cnn(aucs)
    if ORACLE not in aucs or best is None:
        return None
    return (
        f"Ceiling ({protocol_word(protocol)}): the true NFCS action count reaches mean AUC {aucs[ORACLE]:.3f} "
        f"on the same splits (label noise and the label rule cap any model near it); {best} reaches "
        f"{aucs[best]:.3f} (ceiling minus CNN: {aucs[ORACLE] - aucs[best]:+.3f})."
    )


def segment_check(groups: tb.Groups, protocol: str) -> str | None:
    """Per model the mean segment-level AUC (frames of one video segment scored together), or None."""
    design = tb.main_design(groups, protocol)
    parts = []
    for m in tb.models_of(groups):
        runs = groups.get((protocol, design, m), [])
        values = [r.metrics["segment_roc_auc"] for r in runs if "segment_roc_auc" in r.metrics]
        if values:
            segments = int(np.mean([r.metrics["segments"] for r in runs]))
            parts.append(f"{tb.model_title(m)} {np.nanmean(values):.3f}")
    if not parts:
        return None
    return (f"Per video segment ({protocol_word(protocol)}; P(pain) averaged over each segment's frames, about "
            f"{segments} test segments a repetition): mean AUC " + ", ".join(parts) + ".")


def protocol_word(protocol: str) -> str:
    return "image-wise hold-out" if protocol == PAPER else "subject-independent"


def build_report(out_dir: str | Path, sensitivity: float | None = None) -> list[Block]:
    """The report's blocks from ``out_dir``'s saved repetitions."""
    out_dir = Path(out_dir)
    records = load_records(out_dir)
    if not records:
        raise ResultsError(f"{out_dir}: no saved repetitions to report on (run `neopain evaluate` first)")
    info = _run_info(out_dir)
    groups = group(records)
    target = sensitivity if sensitivity is not None else float(info.get("sensitivity", 0.95))
    protocols = [p for p in PROTOCOL_KEYS if any(k[0] == p for k in groups)]
    labels = {p: _label(info, groups, p) for p in protocols}
    blocks = _header(info, groups)
    checks = [c for c in (baseline_check(groups, p) for p in protocols) if c]
    blocks += [Paragraph(c, warning="clearly below" not in c) for c in checks]
    blocks += [Paragraph(c) for c in (oracle_check(groups, p) for p in protocols) if c]
    blocks += [Paragraph(c) for c in (segment_check(groups, p) for p in protocols) if c]
    for protocol in protocols:
        blocks += _protocol_blocks(groups, protocol, labels[protocol], target)
        blocks += nfcs_blocks(groups, protocol, labels[protocol])
    if len(protocols) == 2:
        blocks += _gap_blocks(groups, labels)
    return blocks


def write_report(out_dir: str | Path, sensitivity: float | None = None) -> tuple[Path, Path]:
    """Write OUT/report.md (+ OUT/report_files/*.png) and the self-contained OUT/report.html."""
    out_dir = Path(out_dir)
    blocks = build_report(out_dir, sensitivity)
    write_images(blocks, out_dir / IMAGE_DIR)
    md, page = out_dir / REPORT_MD, out_dir / REPORT_HTML
    for path, text in ((md, to_markdown(blocks, IMAGE_DIR)), (page, to_html(blocks, TITLE))):
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return md, page
