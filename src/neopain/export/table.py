"""The paper's Table II for our variants: size, latency and every metric before and after int8.

All variants score the same test crops; latency is batch 1 on ``threads`` ONNX Runtime threads
(median and p95 of ``repeats`` runs after a warm-up). Metric changes are in percentage points
against the first (float) variant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.atomic import atomic_write_bytes
from neopain.data import Sample, binary_task, nfcs_table, read_manifest
from neopain.evaluate import METRIC_NAMES, binary_metrics
from neopain.export.cpu import cpu_summary
from neopain.export.onnx_io import load_model, read_metadata, save_atomic, set_metadata
from neopain.export.quant import load_face_crops
from neopain.inference import OnnxClassifier
from neopain.pixels.preprocess import preprocess_batch
from neopain.scales.nfcs import ACTIONS, PRESENT_AT

SHIP_NOTE = {"dynamic": "not for shipping: ConvInteger is slower than float on x86"}
META_TABLE_II = "neopain.table_ii"


def batch1_latency_ms(classifier: OnnxClassifier, sample: np.ndarray, repeats: int, warmup: int = 5) -> tuple[float, float]:
    """(median, p95) of single-image inference time in ms."""
    for _ in range(warmup):
        classifier.logits(sample)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier.logits(sample)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 95))


def _action_aucs(actions: Sequence[str], probabilities: np.ndarray,
                 truth: Mapping[str, np.ndarray]) -> dict[str, float | None]:
    """Each action's AUC against the rows that code it (None where they show one class or none)."""
    from neopain.evaluate import roc_auc

    out: dict[str, float | None] = {}
    for j, action in enumerate(actions):
        known = ~np.isnan(truth[action]) if action in truth else np.zeros(len(probabilities), bool)
        labels = truth[action][known] if action in truth else np.zeros(0)
        both = len(set(labels.tolist())) == 2
        out[action] = round(float(roc_auc(labels, probabilities[known, j])), 4) if both else None
    return out


def _variant_row(name: str, path: Path, crops: Sequence[np.ndarray], y_true: np.ndarray | None,
                 threads: int, repeats: int, actions_truth: Mapping[str, np.ndarray] | None = None,
                 ) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None]:
    classifier = OnnxClassifier(path, threads=threads)
    # One pass over the crops: an NFCS model's pass gives P(pain) with the actions.
    p, actions = classifier.nfcs(crops)[:2] if classifier.has_actions else (classifier.probabilities(crops), None)
    sample = preprocess_batch(list(crops[:1]), classifier.config)
    median, p95 = batch1_latency_ms(classifier, sample, repeats)
    row: dict[str, Any] = {
        "variant": name,
        "file": path.name,
        "model_id": classifier.model_id,
        "size_mib": round(path.stat().st_size / 2**20, 3),
        "latency_ms": round(median, 3),
        "latency_p95_ms": round(p95, 3),
        "metrics": None if y_true is None else {k: float(v) for k, v in binary_metrics(y_true, p).items()},
    }
    if name in SHIP_NOTE:
        row["note"] = SHIP_NOTE[name]
    if actions is not None:
        row["action_auc"] = _action_aucs(classifier.config.actions, actions, actions_truth or {})
    return row, p, actions


def _action_agreement(actions: np.ndarray, reference: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    return {
        "present_agreement": {a: round(float(np.mean((actions[:, j] >= PRESENT_AT) == (reference[:, j] >= PRESENT_AT))), 4)
                              for j, a in enumerate(names)},
        "max_abs_p_diff": float(np.abs(actions - reference).max()),
    }


def _agreement(p: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    return {
        "label_agreement": float(np.mean((p >= 0.5) == (reference >= 0.5))),
        "max_abs_p_diff": float(np.abs(p - reference).max()),
        "mean_abs_p_diff": float(np.abs(p - reference).mean()),
    }


def _deltas_pp(metrics: Mapping[str, float], reference: Mapping[str, float]) -> dict[str, float]:
    return {k: round((metrics[k] - reference[k]) * 100.0, 3) for k in METRIC_NAMES
            if np.isfinite(metrics[k]) and np.isfinite(reference[k])}


def table_ii(
    variants: Mapping[str, str | Path],
    crops: Sequence[np.ndarray],
    y_true: Sequence[int] | np.ndarray | None,
    threads: int = 2,
    repeats: int = 50,
    out_json: str | Path | None = None,
    out_md: str | Path | None = None,
    actions_truth: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Rows for each variant (the first is the reference, normally "float"); JSON/Markdown written if asked.

    An NFCS model's rows also give each action's AUC (against ``actions_truth``: action -> 0/1 per crop,
    NaN where not coded) and, against the reference, how often each action's present/absent agrees."""
    if not variants:
        raise ValueError("table_ii needs at least one model variant")
    if not crops:
        raise ValueError("table_ii needs test face crops")
    y = None if y_true is None else np.asarray(y_true, dtype=np.int64)
    rows, reference = [], None
    for name, path in variants.items():
        row, p, actions = _variant_row(name, Path(path), crops, y, threads, repeats, actions_truth)
        if reference is None:
            reference = (row, p, actions)
        else:
            row["agreement_with_" + reference[0]["variant"]] = _agreement(p, reference[1])
            if row["metrics"] is not None:
                row["metric_change_pp"] = _deltas_pp(row["metrics"], reference[0]["metrics"])
            if actions is not None and reference[2] is not None:
                row["action_agreement_with_" + reference[0]["variant"]] = _action_agreement(
                    actions, reference[2], list(row["action_auc"]))
        rows.append(row)
    table = {"test_crops": len(crops), "threads": threads, "batch": 1, "repeats": repeats,
             "measured_on": cpu_summary(), "rows": rows}
    if out_json is not None:
        atomic_write_bytes(Path(out_json), (json.dumps(table, indent=2) + "\n").encode())
    if out_md is not None:
        atomic_write_bytes(Path(out_md), table_ii_markdown(table).encode())
    return table


def record_table_ii(table: Mapping[str, Any], variants: Mapping[str, str | Path]) -> None:
    """Write each compared variant's row of Table II, with the CPU it was measured on, into its own
    metadata (``neopain.table_ii``): the file says on which int8 kernels its numbers hold."""
    for row in table["rows"][1:]:
        summary = {"measured_on": table["measured_on"], "test_crops": table["test_crops"],
                   "metric_change_pp": row.get("metric_change_pp"),
                   **{k: v for k, v in row.items() if k.startswith("agreement_with_")}}
        path = Path(variants[row["variant"]])
        model = load_model(path)
        set_metadata(model, {**read_metadata(model), META_TABLE_II: json.dumps(summary, sort_keys=True)})
        save_atomic(model, path)


def _actions_truth(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    table = nfcs_table(samples, ACTIONS)
    return {a: table[:, j].astype(np.float64) for j, a in enumerate(ACTIONS)}


def write_table_ii(variants: Mapping[str, str | Path], test_faces: str | Path, out: str | Path,
                   ) -> tuple[dict[str, Any], Path, Path]:
    """Table II of ``variants`` on a faces manifest of TEST crops, written beside ``out``
    (NAME.table_ii.json / .md) and recorded in each int8 file; returns (table, json path, md path)."""
    out = Path(out)
    crops, targets = load_face_crops(test_faces, labelled_only=True)
    json_path, md_path = out.with_name(f"{out.stem}.table_ii.json"), out.with_name(f"{out.stem}.table_ii.md")
    table = table_ii(variants, crops, targets, out_json=json_path, out_md=md_path,
                     actions_truth=_actions_truth(binary_task(read_manifest(test_faces))))
    record_table_ii(table, variants)
    return table, json_path, md_path


def _fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value * scale:.{digits}f}"


def table_ii_markdown(table: Mapping[str, Any]) -> str:
    """Table II as Markdown: one row per variant, metrics in %, changes in percentage points."""
    shown = ("accuracy", "sensitivity", "specificity", "f1", "roc_auc")
    header = ["variant", "size (MiB)", "latency ms (p95)"] + [f"{m} %" for m in shown] + ["agreement", "max \\|dP\\|"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table["rows"]:
        metrics = row.get("metrics") or {}
        agreement = next((v for k, v in row.items() if k.startswith("agreement_with_")), None)
        cells = [row["variant"] + (" (not shipped)" if "note" in row else ""), _fmt(row["size_mib"], digits=2),
                 f"{row['latency_ms']:.2f} ({row['latency_p95_ms']:.2f})"]
        cells += [_fmt(metrics.get(m), 100.0, 1) for m in shown]
        cells += ["reference", "-"] if agreement is None else [
            f"{agreement['label_agreement'] * 100:.1f}%", f"{agreement['max_abs_p_diff']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    cpu = table.get("measured_on") or {}
    lines.append(f"{table['test_crops']} test crops; latency: batch 1, {table['threads']} threads, "
                 f"median of {table['repeats']} runs (p95 in brackets). Agreement: same label as the first row.")
    if cpu:
        lines.append(f"Measured on {cpu['cpu']} ({cpu['int8_kernels']} int8 kernels; flags "
                     f"{' '.join(cpu['flags']) or 'none'}), ONNX Runtime {cpu['onnxruntime']}.")
    return "\n".join(lines + _action_lines(table)) + "\n"


def _action_lines(table: Mapping[str, Any]) -> list[str]:
    """An NFCS model's actions: AUC per variant, and present/absent agreement with the first row."""
    rows = [r for r in table["rows"] if "action_auc" in r]
    if not rows:
        return []
    actions = list(rows[0]["action_auc"])
    lines = ["", "| action | " + " | ".join(r["variant"] for r in rows) + " |", "|" + "---|" * (len(rows) + 1)]
    for action in actions:
        cells = []
        for row in rows:
            auc = row["action_auc"][action]
            agreement = next((v for k, v in row.items() if k.startswith("action_agreement_with_")), None)
            text = "n/a" if auc is None else f"{auc:.3f}"
            if agreement is not None:
                text += f" ({agreement['present_agreement'][action] * 100:.1f}%)"
            cells.append(text)
        lines.append(f"| {action.replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines += ["", ("NFCS actions: AUC against the test crops that code the action; in brackets, how often "
                   "present/absent agrees with the first row.")]
    return lines
