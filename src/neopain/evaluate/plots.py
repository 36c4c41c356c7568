"""The report's figures as PNG bytes: ROC curves, box plots per metric, calibration (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from neopain.evaluate.metrics import METRIC_NAMES, MetricError, calibration_bins, roc_curve
from neopain.evaluate.results import Record
from neopain.evaluate.tables import METRIC_TITLES, model_title, pooled

ByModel = Mapping[str, Sequence[Record]]
FPR_GRID = np.linspace(0.0, 1.0, 101)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _mean_roc(records: Sequence[Record]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Mean TPR over the FPR grid (vertical averaging) and each repetition's curve."""
    curves, tprs = [], []
    for record in records:
        try:
            fpr, tpr, _ = roc_curve(record.y, record.p)
        except MetricError:
            continue
        curves.append((fpr, tpr))
        tprs.append(np.interp(FPR_GRID, fpr, tpr))
    mean = np.mean(tprs, axis=0) if tprs else np.full_like(FPR_GRID, np.nan)
    if tprs:
        mean[0] = 0.0
    return mean, curves


def roc_figure(by_model: ByModel, title: str) -> bytes:
    """One line per model: the mean ROC over repetitions, with each repetition faint behind it."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for index, (model, records) in enumerate(by_model.items()):
        colour = f"C{index}"
        mean, curves = _mean_roc(records)
        for fpr, tpr in curves:
            ax.plot(fpr, tpr, color=colour, alpha=0.15, linewidth=0.8)
        auc = np.nanmean([r.metrics["roc_auc"] for r in records])
        ax.plot(FPR_GRID, mean, color=colour, linewidth=2, label=f"{model_title(model)} (mean AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def box_figure(by_model: ByModel, title: str) -> bytes:
    """A box plot per metric (one panel each), one box per model, a point per repetition."""
    plt = _pyplot()
    models = list(by_model)
    fig, axes = plt.subplots(3, 3, figsize=(11, 9))
    for ax, metric in zip(axes.ravel(), METRIC_NAMES, strict=True):
        data = [np.array([r.metrics[metric] for r in by_model[m]], dtype=float) for m in models]
        data = [d[~np.isnan(d)] for d in data]
        ax.boxplot(data, showmeans=True)
        for i, values in enumerate(data, start=1):
            ax.scatter(np.full(len(values), i), values, s=10, alpha=0.6, color="C1", zorder=3)
        ax.set_xticks(range(1, len(models) + 1), [model_title(m).split(" (")[0] for m in models], fontsize=7)
        ax.set_title(METRIC_TITLES[metric], fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def calibration_figure(by_model: ByModel, title: str, n_bins: int = 10) -> bytes:
    """Reliability diagram on the pooled test predictions: fraction of pain against mean p(pain) per bin."""
    plt = _pyplot()
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1), sharex=True)
    for index, (model, records) in enumerate(by_model.items()):
        y, p = pooled(records)
        bins = calibration_bins(y, p, n_bins)
        used = bins["count"] > 0
        ax.plot(
            bins["mean_p"][used],
            bins["fraction_pain"][used],
            marker="o",
            color=f"C{index}",
            label=model_title(model),
        )
        hist.hist(p, bins=bins["edges"], histtype="step", color=f"C{index}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    ax.set_ylabel("fraction of pain images")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    hist.set_xlabel("predicted probability of pain")
    hist.set_ylabel("images")
    fig.tight_layout()
    return _png(fig)
