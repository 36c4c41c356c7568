"""The report's numbers: summaries over repetitions, pooled predictions, and the tables built from them.

Every table's caption names its split protocol ("image-wise hold-out" or "subject-independent ...").
A value that cannot be computed prints as "n/a" with the reason in the notes, never as a bare NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from neopain.evaluate.metrics import (
    METRIC_NAMES,
    MetricError,
    Summary,
    ThresholdChoice,
    confusion,
    sensitivity,
    specificity,
    summarize,
    threshold_for_sensitivity,
)
from neopain.evaluate.render import Table
from neopain.evaluate.results import BASELINE, ORACLE, REFERENCES, Record
from neopain.evaluate.stats import TUKEY, StatsError, compare

Groups = Mapping[tuple[str, str, str], Sequence[Record]]  # (protocol, design, model) -> repetitions

METRIC_TITLES = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "f1": "F1 score",
    "roc_auc": "ROC AUC",
    "balanced_accuracy": "Balanced accuracy",
    "brier": "Brier score (lower is better)",
    "ece": "ECE (lower is better)",
}
PERCENT = {"accuracy", "precision", "sensitivity", "specificity", "f1", "balanced_accuracy"}
STAT_METRICS = ("accuracy", "f1", "roc_auc", "balanced_accuracy")
MODEL_TITLES = {
    BASELINE: "baseline (pixel logistic regression)",
    ORACLE: "NFCS oracle (true action count: the labels' ceiling)",
}


def model_title(model: str) -> str:
    return MODEL_TITLES.get(model, model)


def test_train_ratio(records: Sequence[Record]) -> float:
    """Mean n_test / n_train over repetitions (the Nadeau-Bengio correction's ratio)."""
    return float(np.mean([r.n_test / r.n_train for r in records]))


def summaries(records: Sequence[Record]) -> dict[str, Summary]:
    """Per metric over repetitions: mean, sd and the 95 % CI with the Nadeau-Bengio corrected se."""
    ratio = test_train_ratio(records)
    return {m: summarize([r.metrics[m] for r in records], 0.95, ratio) for m in METRIC_NAMES}


def pooled(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    """(y, p) of every repetition's test part, concatenated (an image may appear several times)."""
    return np.concatenate([r.y for r in records]), np.concatenate([r.p for r in records])


def pooled_threshold(records: Sequence[Record], target: float) -> ThresholdChoice:
    """The threshold reaching ``target`` sensitivity on the pooled test predictions."""
    return threshold_for_sensitivity(*pooled(records), target=target)


def per_repeat_at(records: Sequence[Record], threshold: float) -> tuple[Summary, Summary]:
    """Sensitivity and specificity of each repetition at one threshold, summarised (how stable it is)."""
    counts = [confusion(r.y, r.p, threshold) for r in records]
    return summarize([sensitivity(c) for c in counts]), summarize([specificity(c) for c in counts])


def fmt(summary: Summary, metric: str, expected: int | None = None) -> str:
    """Table I's cell: '89.3% ± 4.1%' or '0.912 ± 0.031'; n shown when repetitions were dropped."""
    if summary.n == 0:
        return "n/a"
    percent = metric in PERCENT
    if math.isnan(summary.sd):
        text = f"{summary.mean * 100:.1f}%" if percent else f"{summary.mean:.3f}"
    else:
        text = summary.mean_sd(percent=percent, digits=3)
    return text + (f" (n={summary.n})" if expected is not None and summary.n < expected else "")


def clipped_ci(summary: Summary) -> tuple[float, float]:
    """The CI cut to [0, 1], the range of every metric here (a t interval on few repetitions can overshoot)."""
    return max(summary.ci_low, 0.0), min(summary.ci_high, 1.0)


def fmt_ci(summary: Summary, metric: str) -> str:
    if math.isnan(summary.ci_low):
        return "n/a"
    scale, unit, digits = (100, "%", 1) if metric in PERCENT else (1, "", 3)
    low, high = clipped_ci(summary)
    return f"[{low * scale:.{digits}f}{unit}, {high * scale:.{digits}f}{unit}]"


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_number(x: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def designs_of(groups: Groups, protocol: str) -> list[str]:
    return sorted({d for p, d, _ in groups if p == protocol}, key=lambda d: (d.count("+"), d))


def main_design(groups: Groups, protocol: str) -> str:
    """The training set with the most datasets (all of them), the one plots and statistics use."""
    return designs_of(groups, protocol)[-1]


def models_of(groups: Groups) -> list[str]:
    """CNNs in name order, then the reference rows (baseline, NFCS oracle)."""
    names = {m for _, _, m in groups}
    return sorted(names - set(REFERENCES)) + [m for m in REFERENCES if m in names]


def _dropped_note(records: Sequence[Record]) -> list[str]:
    dropped = sorted({m for r in records for m, v in r.metrics.items() if math.isnan(v)})
    if not dropped:
        return []
    return [
        (
            f"Undefined in some repetitions (a zero denominator, e.g. no image called pain), dropped: "
            f"{', '.join(dropped)}; n says how many repetitions remain."
        )
    ]


def table_one(groups: Groups, protocol: str, model: str, label: str) -> Table:
    """Table I's shape: metrics (rows) x training sets (columns), mean ± sd over repetitions."""
    designs = [d for d in designs_of(groups, protocol) if (protocol, d, model) in groups]
    cells = {d: summaries(groups[protocol, d, model]) for d in designs}
    counts = {d: len(groups[protocol, d, model]) for d in designs}
    rows = [[METRIC_TITLES[m]] + [fmt(cells[d][m], m, counts[d]) for d in designs] for m in METRIC_NAMES]
    header = ["Metric"] + [f"trained on {d} ({counts[d]} reps)" for d in designs]
    records = [r for d in designs for r in groups[protocol, d, model]]
    return Table(
        header, rows, f"{model_title(model)}, {label}: mean ± sd over repetitions", _dropped_note(records)
    )


def models_table(groups: Groups, protocol: str, design: str, label: str) -> Table:
    """Every model (the baseline beside the CNNs) on the same splits."""
    models = [m for m in models_of(groups) if (protocol, design, m) in groups]
    cells = {m: summaries(groups[protocol, design, m]) for m in models}
    rows = [
        [METRIC_TITLES[k]] + [fmt(cells[m][k], k, len(groups[protocol, design, m])) for m in models]
        for k in METRIC_NAMES
    ]
    return Table(
        ["Metric"] + [model_title(m) for m in models],
        rows,
        f"Models side by side, {label}, trained on {design}: mean ± sd",
    )


def ci_table(groups: Groups, protocol: str, design: str, label: str) -> Table:
    models = [m for m in models_of(groups) if (protocol, design, m) in groups]
    rows = []
    for model in models:
        cells = summaries(groups[protocol, design, model])
        rows.append([model_title(model)] + [fmt_ci(cells[k], k) for k in METRIC_NAMES])
    return Table(
        ["Model"] + [METRIC_TITLES[k] for k in METRIC_NAMES],
        rows,
        f"95% confidence intervals, {label}, trained on {design}",
        [
            (
                "t interval with the Nadeau-Bengio corrected standard error sd x sqrt(1/n + n_test/n_train): "
                "repetitions share training images, so the plain interval would be too narrow. Cut to [0, 1]."
            )
        ],
    )


def gap_table(
    groups: Groups, paper_label: str, subject_label: str, design: str, protocols: tuple[str, str]
) -> Table:
    """Per model and metric: image-wise mean, subject-independent mean, and the gap between them."""
    paper, subject = protocols
    rows = []
    for model in models_of(groups):
        if (paper, design, model) not in groups or (subject, design, model) not in groups:
            continue
        a, b = summaries(groups[paper, design, model]), summaries(groups[subject, design, model])
        for m in METRIC_NAMES:
            scale, unit = (100, " points") if m in PERCENT else (1, "")
            gap = (a[m].mean - b[m].mean) * scale
            rows.append(
                [
                    model_title(model),
                    METRIC_TITLES[m],
                    fmt(a[m], m),
                    fmt(b[m], m),
                    "n/a" if math.isnan(gap) else f"{gap:+.1f}{unit}" if unit else f"{gap:+.3f}",
                ]
            )
    return Table(
        ["Model", "Metric", paper_label, subject_label, "gap (image-wise minus subject-independent)"],
        rows,
        f"The gap between the two protocols, trained on {design}",
        [
            (
                "A positive gap on accuracy-like metrics is what the image-wise protocol gains by letting the "
                "same baby appear in training and test."
            )
        ],
    )


def threshold_table(groups: Groups, protocol: str, design: str, label: str, target: float) -> Table:
    rows, notes = [], []
    for model in [m for m in models_of(groups) if (protocol, design, m) in groups]:
        records = groups[protocol, design, model]
        try:
            choice = pooled_threshold(records, target)
        except MetricError as exc:
            rows.append([model_title(model), "n/a", "n/a", "n/a", "n/a", "n/a"])
            notes.append(f"{model}: {exc}")
            continue
        sens, spec = per_repeat_at(records, choice.threshold)
        rows.append(
            [
                model_title(model),
                f"{choice.threshold:.3f}",
                f"{choice.sensitivity * 100:.1f}%",
                f"{choice.specificity * 100:.1f}%",
                fmt(sens, "sensitivity"),
                fmt(spec, "specificity"),
            ]
        )
    notes.insert(
        0,
        f"Highest threshold whose sensitivity on the pooled test predictions of all repetitions "
        f"reaches {target:.0%} (missing pain is the costly error); the last two columns apply it to "
        "each repetition. Chosen on test predictions: confirm it on new subjects before use.",
    )
    return Table(
        [
            "Model",
            "threshold",
            "sensitivity (pooled)",
            "specificity it costs (pooled)",
            "sensitivity per repetition",
            "specificity per repetition",
        ],
        rows,
        f"Threshold for {target:.0%} sensitivity, {label}, trained on {design}",
        notes,
    )


def confusion_table(groups: Groups, protocol: str, design: str, label: str) -> Table:
    rows = []
    for model in [m for m in models_of(groups) if (protocol, design, m) in groups]:
        c = confusion(*pooled(groups[protocol, design, model]), 0.5)
        rows.append([model_title(model), str(c.tn), str(c.fp), str(c.fn), str(c.tp)])
    return Table(
        ["Model", "TN (no pain called no pain)", "FP", "FN (pain missed)", "TP"],
        rows,
        f"Confusion matrices at threshold 0.5, summed over repetitions, {label}, trained on {design}",
    )


def _aligned_scores(groups: Groups, protocol: str, design: str, metric: str) -> dict[str, list[float]]:
    """Per model, the metric on the repetitions every model has (paired tests need the same splits)."""
    models = [m for m in models_of(groups) if (protocol, design, m) in groups]
    common = set.intersection(*({r.repeat for r in groups[protocol, design, m]} for m in models))
    return {m: [r.metrics[metric] for r in groups[protocol, design, m] if r.repeat in common] for m in models}


def stats_table(groups: Groups, protocol: str, design: str, label: str) -> Table:
    """ANOVA + Tukey HSD + corrected resampled t-tests across models, one block per metric."""
    rows, notes = [], []
    models = [m for m in models_of(groups) if (protocol, design, m) in groups]
    records = groups[protocol, design, models[0]]
    n_test = float(np.mean([r.n_test for r in records]))
    n_train = float(np.mean([r.n_train for r in records]))
    for metric in STAT_METRICS:
        scores = _aligned_scores(groups, protocol, design, metric)
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # zero variance: reported as a note
                result = compare(scores, n_train, n_test)
        except StatsError as exc:
            rows.append(
                [METRIC_TITLES[metric], "(all tests)", " vs ".join(models), "n/a", "n/a", "n/a", "n/a"]
            )
            notes.append(f"{metric}: not computed ({exc})")
            continue
        a = result.anova
        rows.append(
            [
                METRIC_TITLES[metric],
                a.test,
                " vs ".join(model_title(g) for g in a.groups),
                f"F({a.df[0]:g}, {a.df[1]:g}) = {fmt_number(a.statistic)}",
                "n/a",
                fmt_p(a.p_value),
                "none",
            ]
        )
        if a.note:
            notes.append(f"{metric}, {a.test}: {a.note}")
        for pair in [*result.tukey, *result.corrected]:
            stat = (
                f"diff = {fmt_number(pair.difference)}"
                if pair.test == TUKEY
                else f"t({pair.df:g}) = {fmt_number(pair.statistic)}"
            )
            rows.append(
                [
                    METRIC_TITLES[metric],
                    pair.test,
                    f"{model_title(pair.first)} - {model_title(pair.second)}",
                    stat,
                    f"{fmt_number(pair.difference)} [{fmt_number(pair.ci_low)}, {fmt_number(pair.ci_high)}]",
                    fmt_p(pair.p_value),
                    f"{fmt_p(pair.p_adjusted)} ({pair.adjustment})",
                ]
            )
            if pair.note:
                notes.append(f"{metric}, {pair.test}, {pair.first} vs {pair.second}: {pair.note}")
    notes.insert(
        0,
        "One-way ANOVA and Tukey HSD (as the paper) assume independent repetitions, which repeated "
        "hold-outs are not: their p-values are optimistic. The Nadeau-Bengio corrected resampled "
        f"t-test (n_test/n_train = {n_test:.0f}/{n_train:.0f}) allows for it: trust that one.",
    )
    return Table(
        ["Metric", "test", "comparison", "statistic", "difference [95% CI]", "p", "p adjusted"],
        rows,
        f"Statistics across models, {label}, trained on {design}",
        notes,
    )


def pairs_available(groups: Groups, protocol: str, design: str) -> bool:
    return len([m for m in models_of(groups) if (protocol, design, m) in groups]) >= 2
