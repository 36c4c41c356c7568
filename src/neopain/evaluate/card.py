"""The model card of a final model: ``model_card.json`` (read by the export stage into the ONNX metadata)
and ``model_card.md``, written next to the checkpoint.

Metrics come from an evaluation run of the same model name (``neopain evaluate``): the final model is
trained on every image, so its own performance cannot be measured; the card reports the protocol's
estimates with their 95 % CIs, and the threshold chosen on the subject-independent test predictions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neopain.data import Sample, manifest_hash
from neopain.evaluate import tables as tb
from neopain.evaluate.metrics import METRIC_NAMES, MetricError, Summary, calibration_bins
from neopain.evaluate.nfcs import HUMAN_KAPPA
from neopain.evaluate.nfcs_report import nfcs_summaries
from neopain.evaluate.results import (
    PAPER,
    RUN_FILE,
    SUBJECT,
    Record,
    ResultsError,
    group,
    jsonable,
    load_records,
    read_json,
    write_json,
)
from neopain.evaluate.splits import subject_key
from neopain.scales.nfcs import LABELS

CARD_JSON, CARD_MD = "model_card.json", "model_card.md"
SCHEMA = "neopain.model_card/1"
INTENDED_USE = (
    "Research on automated neonatal pain assessment from face images: a decision-support signal to be "
    "read by trained clinical staff together with a validated pain scale (e.g. NFCS, NIPS, PIPP). "
    "Not a medical device; not for autonomous clinical decisions."
)
LIMITS = [
    (
        "Trained on few babies: performance on new babies, units, cameras, lighting and skin tones is uncertain; "
        "use the subject-independent estimates, not the image-wise ones."
    ),
    (
        "Still face images only: no cry, body movement, physiology or context; sedated or paralysed infants "
        "may show pain without facial expression."
    ),
    "Labels follow the datasets' own definitions (stimulus or NFCS score), not a clinical gold standard.",
    "The threshold was chosen on evaluation test predictions; confirm sensitivity on local data before use.",
    "The confidence intervals assume the evaluated babies represent the babies it will see.",
]
SYNTHETIC_LIMIT = (
    "Trained and evaluated on SYNTHETIC faces: this card validates the pipeline and says nothing "
    "about real newborns."
)


def data_summary(samples: Sequence[Sample]) -> dict[str, Any]:
    """Counts per class, per dataset and per subject (subject ids as in the manifest, never names)."""
    per_subject: dict[str, dict[str, int]] = {}
    for s in samples:
        counts = per_subject.setdefault(subject_key(s), {label: 0 for label in LABELS})
        counts[s.label] = counts.get(s.label, 0) + 1
    return {
        "images": len(samples),
        "subjects": len(per_subject),
        "labels": {label: sum(s.label == label for s in samples) for label in LABELS},
        "subjects_per_label": {
            label: sum(c.get(label, 0) > 0 for c in per_subject.values()) for label in LABELS
        },
        "datasets": {d: sum(s.dataset == d for s in samples) for d in sorted({s.dataset for s in samples})},
        "per_subject": dict(sorted(per_subject.items())),
        "manifest_hash": manifest_hash(samples),
        "synthetic": bool(samples) and all(s.dataset == "synthetic" for s in samples),
    }


def _load_evaluation(
    evaluation: str | Path | Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[Record]]:
    """(run info, records) from an evaluation folder or a {'info':..., 'records': [...]} mapping."""
    if evaluation is None:
        return {}, []
    if isinstance(evaluation, Mapping):
        records = [r if isinstance(r, Record) else Record.from_dict(r) for r in evaluation.get("records", [])]
        return dict(evaluation.get("info", {})), records
    folder = Path(evaluation)
    if not folder.is_dir():
        raise ResultsError(f"{folder}: evaluation folder not found")
    info = read_json(folder / RUN_FILE) if (folder / RUN_FILE).is_file() else {}
    return info, load_records(folder)


def _summary_dict(summary: Summary) -> dict[str, Any]:
    low, high = tb.clipped_ci(summary)
    return {
        "mean": summary.mean,
        "sd": summary.sd,
        "ci95_low": low,
        "ci95_high": high,
        "repetitions": summary.n,
        "ci_method": f"{summary.method}, cut to [0, 1]",
    }


def _nfcs_section(records: Sequence[Record]) -> dict[str, Any] | None:
    """Per action AUC and the score's agreement with the truth, where the model codes NFCS actions."""
    summaries = nfcs_summaries(records)
    if summaries is None:
        return None
    first = next(r.info["nfcs"] for r in records if r.info.get("nfcs"))
    return {
        "version": first["version"],
        "action_auc": {a: _summary_dict(summaries[f"{a}.roc_auc"]) for a in first["actions"]},
        "score_kappa": _summary_dict(summaries["score_kappa"]),
        "score_mae": summaries["score_mae"].mean,
        "score_icc": summaries["score_icc"].mean,
        "human_reference_kappa": HUMAN_KAPPA,
    }


def _protocol_section(records: Sequence[Record], design: str) -> dict[str, Any]:
    y, p = tb.pooled(records)
    bins = calibration_bins(y, p)
    summaries = tb.summaries(records)
    nfcs = _nfcs_section(records)
    return {
        **({"nfcs": nfcs} if nfcs else {}),
        "protocol": records[0].label,
        "trained_on": design,
        "repetitions": len(records),
        "test_images_per_repetition": round(sum(r.n_test for r in records) / len(records), 1),
        "metrics_at_0_5": {m: _summary_dict(summaries[m]) for m in METRIC_NAMES},
        "calibration": {
            "ece": _summary_dict(summaries["ece"]),
            "brier": _summary_dict(summaries["brier"]),
            "bins": {
                "edges": bins["edges"],
                "count": bins["count"],
                "mean_p": bins["mean_p"],
                "fraction_pain": bins["fraction_pain"],
            },
        },
    }


def _threshold(sections: Mapping[str, Any], groups: tb.Groups, model: str, target: float) -> dict[str, Any]:
    """Chosen on the subject-independent predictions when there are any (image-wise ones flatter it)."""
    for protocol in (SUBJECT, PAPER):
        if protocol not in sections:
            continue
        records = groups[protocol, sections[protocol]["trained_on"], model]
        try:
            choice = tb.pooled_threshold(records, target)
        except MetricError:
            continue
        sens, spec = tb.per_repeat_at(records, choice.threshold)
        return {
            "value": choice.threshold,
            "target_sensitivity": target,
            "sensitivity": choice.sensitivity,
            "specificity": choice.specificity,
            "chosen_on": f"pooled test predictions, {records[0].label}",
            "per_repetition": {"sensitivity": _summary_dict(sens), "specificity": _summary_dict(spec)},
        }
    return {
        "value": 0.5,
        "target_sensitivity": None,
        "sensitivity": None,
        "specificity": None,
        "chosen_on": "default 0.5 (no evaluation of this model to choose from)",
    }


def _config_dict(model_config: Any) -> dict[str, Any]:
    if isinstance(model_config, Mapping):
        return dict(model_config)
    return dict(model_config.to_dict())


def model_card(
    samples: Sequence[Sample],
    evaluation: str | Path | Mapping[str, Any] | None,
    model_config: Any,
    train_config: Mapping[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    sensitivity: float | None = None,
) -> dict[str, Any]:
    """The card as a JSON-able dict; ``model_config`` is a ModelConfig or its dict."""
    config = _config_dict(model_config)
    info, records = _load_evaluation(evaluation)
    groups = group(r for r in records if r.model == config["name"])
    sections = {}
    for protocol in (PAPER, SUBJECT):
        if any(k[0] == protocol for k in groups):
            design = tb.main_design(groups, protocol)
            sections[protocol] = _protocol_section(groups[protocol, design, config["name"]], design)
    target = sensitivity if sensitivity is not None else float(info.get("sensitivity", 0.95))
    data = data_summary(samples)
    limits = ([SYNTHETIC_LIMIT] if data["synthetic"] else []) + LIMITS
    if not sections:
        limits.insert(0, "No evaluation of this model was found: no performance estimate.")
    return jsonable(
        {
            "schema": SCHEMA,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": {
                "name": config["name"],
                "config": config,
                "checkpoint": Path(checkpoint).name if checkpoint else None,
                "training": dict(train_config or {}),
                "trained_on": "every image of the data below (final model)",
            },
            "synthetic": data["synthetic"],
            "data": data,
            "evaluation": {"settings": info.get("settings", {}), "protocols": sections},
            "threshold": _threshold(sections, groups, config["name"], target),
            "labels": list(config.get("labels", LABELS)),
            "intended_use": INTENDED_USE,
            "limits": limits,
        }
    )


def _fmt(entry: Mapping[str, Any], percent: bool) -> str:
    if entry.get("mean") is None:
        return "n/a"
    scale, unit, d = (100, "%", 1) if percent else (1, "", 3)
    text = f"{entry['mean'] * scale:.{d}f}{unit}"
    if entry.get("sd") is not None:
        text += f" ± {entry['sd'] * scale:.{d}f}{unit}"
    if entry.get("ci95_low") is not None:
        text += (
            f" (95% CI {entry['ci95_low'] * scale:.{d}f}{unit} to {entry['ci95_high'] * scale:.{d}f}{unit})"
        )
    return text


def _data_lines(data: Mapping[str, Any]) -> list[str]:
    per_subject = [sum(c.values()) for c in data["per_subject"].values()] or [0]
    classes = ", ".join(
        f"{k} {v} images ({data['subjects_per_label'][k]} subjects)" for k, v in data["labels"].items()
    )
    return [
        f"- {data['images']} images of {data['subjects']} subjects",
        f"- per class: {classes}",
        "- per dataset: " + ", ".join(f"{k or '(none)'} {v}" for k, v in data["datasets"].items()),
        f"- images per subject: {min(per_subject)} to {max(per_subject)}",
    ]


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card for people: the same content as the JSON, minus the raw bins and per-subject lists."""
    data, model, threshold = card["data"], card["model"], card["threshold"]
    lines = [f"# Model card: {model['name']}", ""]
    if card["synthetic"]:
        lines += [f"> **{SYNTHETIC_LIMIT}**", ""]
    lines += ["## Intended use", "", card["intended_use"], "", "## Model", ""]
    lines += [
        (
            f"- architecture: {model['name']}, input {model['config'].get('input_size')} px, "
            f"weights from {model['config'].get('weights')}"
        ),
        f"- checkpoint: {model['checkpoint']}",
        f"- trained on: {model['trained_on']}",
        "",
    ]
    lines += ["## Data", ""] + _data_lines(data) + [""]
    lines += ["## Performance (estimated by the evaluation protocol, threshold 0.5)", ""]
    protocols = card["evaluation"]["protocols"]
    if not protocols:
        lines += ["No evaluation of this model was found.", ""]
    for section in protocols.values():
        title = f"### {section['protocol']} (trained on {section['trained_on']}, {section['repetitions']} repetitions)"
        lines += [title, "", "| metric | mean ± sd (95% CI) |", "|---|---|"]
        lines += [
            f"| {tb.METRIC_TITLES[m]} | {_fmt(e, m in tb.PERCENT)} |"
            for m, e in section["metrics_at_0_5"].items()
        ]
        cal = section["calibration"]
        lines += ["", f"Calibration: ECE {_fmt(cal['ece'], False)}, Brier {_fmt(cal['brier'], False)}.", ""]
        lines += _nfcs_lines(section.get("nfcs"))
    lines += ["## Operating threshold", ""]
    if threshold["target_sensitivity"] is None:
        lines += [f"{threshold['value']} ({threshold['chosen_on']}).", ""]
    else:
        lines += [
            (
                f"p(pain) >= {threshold['value']:.3f}: sensitivity {threshold['sensitivity']:.1%} "
                f"(target {threshold['target_sensitivity']:.0%}), specificity {threshold['specificity']:.1%}; "
                f"chosen on {threshold['chosen_on']}."
            ),
            "",
        ]
    lines += ["## Limits", ""] + [f"- {limit}" for limit in card["limits"]]
    return "\n".join(lines) + "\n"


def _nfcs_lines(nfcs: Mapping[str, Any] | None) -> list[str]:
    if not nfcs:
        return []
    aucs = "; ".join(f"{a.replace('_', ' ')} {_fmt(e, False)}" for a, e in nfcs["action_auc"].items())
    score = (f"NFCS score: weighted kappa {_fmt(nfcs['score_kappa'], False)} (professionals: "
             f"{nfcs['human_reference_kappa']:.2f}), MAE {nfcs['score_mae']:.2f} actions, ICC {nfcs['score_icc']:.3f}.")
    return [f"NFCS actions ({nfcs['version']}), AUC: {aucs}.", score, ""]


SUMMARY_METRICS = ("roc_auc", "sensitivity", "specificity", "accuracy", "f1", "ece")


def _protocol_line(section: Mapping[str, Any]) -> str:
    metrics = section["metrics_at_0_5"]
    shown = "; ".join(
        f"{tb.METRIC_TITLES[m]} {_fmt(metrics[m], m in tb.PERCENT)}" for m in SUMMARY_METRICS if m in metrics
    )
    return f"trained on {section['trained_on']}, {section['repetitions']} repetitions: {shown}"


def card_summary(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card in a few lines for the ONNX metadata and the app (the full card stays beside the checkpoint).

    Cards of another schema are returned unchanged.
    """
    if card.get("schema") != SCHEMA:
        return dict(card)
    data, model, threshold = card["data"], card["model"], card["threshold"]
    classes = ", ".join(f"{k} {v}" for k, v in data["labels"].items())
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "created": card["created"],
        "synthetic": card["synthetic"],
        "model": f"{model['name']}, input {model['config'].get('input_size')} px, {model['trained_on']}",
        "data": f"{data['images']} images of {data['subjects']} subjects ({classes}); manifest {data['manifest_hash']}",
        "evaluation": {s["protocol"]: _protocol_line(s) for s in card["evaluation"]["protocols"].values()},
        "threshold": {k: threshold.get(k) for k in ("value", "target_sensitivity", "sensitivity", "specificity", "chosen_on")},
        "labels": card["labels"],
        "intended_use": card["intended_use"],
        "limits": card["limits"],
    }
    return summary


def write_model_card(
    out_dir: str | Path,
    samples: Sequence[Sample],
    evaluation: str | Path | Mapping[str, Any] | None,
    model_config: Any,
    train_config: Mapping[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    sensitivity: float | None = None,
) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into ``out_dir`` (the checkpoint's folder)."""
    card = model_card(samples, evaluation, model_config, train_config, checkpoint, sensitivity)
    out_dir = Path(out_dir)
    json_file = write_json(out_dir / CARD_JSON, card)
    md_file = out_dir / CARD_MD
    tmp = md_file.with_name(f".{CARD_MD}.part")
    tmp.write_text(card_markdown(card), encoding="utf-8")
    tmp.replace(md_file)
    return json_file, md_file
