"""Table I by test dataset: each training set's metrics on each dataset's held-out part separately.

Table I tests every training set on the union of the datasets' held-out parts; a model trained on iCOPE
may do well on iCOPE and badly on UNIFESP, which the pooled column hides. Records written before
``test_datasets`` was saved carry no dataset per test image: they give no breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neopain.evaluate.metrics import METRIC_NAMES, MetricError, binary_metrics, summarize
from neopain.evaluate.render import Table
from neopain.evaluate.results import Record
from neopain.evaluate.tables import METRIC_TITLES, Groups, designs_of, fmt, model_title


def held_out_datasets(records: Sequence[Record]) -> list[str]:
    """The datasets the test parts hold; empty when any record lacks them."""
    if not records or any(len(r.datasets) != len(r.y) for r in records):
        return []
    return sorted({d for r in records for d in r.datasets})


def subset_metrics(record: Record, dataset: str) -> dict[str, float]:
    """The record's metrics on the test images of one dataset; NaN where one class is missing there."""
    keep = np.asarray(record.datasets) == dataset
    try:
        return binary_metrics(record.y[keep], record.p[keep])
    except MetricError:
        return {m: float("nan") for m in METRIC_NAMES}


def breakdown_table(groups: Groups, protocol: str, model: str, label: str) -> Table | None:
    """Metrics (rows) x (training set, test dataset) (columns), mean ± sd; None with one test dataset."""
    designs = [d for d in designs_of(groups, protocol) if (protocol, d, model) in groups]
    records = [r for d in designs for r in groups[protocol, d, model]]
    tested = held_out_datasets(records)
    if len(tested) < 2:
        return None
    header, columns = ["Metric"], []
    for design in designs:
        for dataset in tested:
            per_repeat = [subset_metrics(r, dataset) for r in groups[protocol, design, model]]
            summaries = {m: summarize([x[m] for x in per_repeat]) for m in METRIC_NAMES}
            columns.append((summaries, len(per_repeat)))
            header.append(f"trained on {design}, tested on {dataset}")
    # As Table I: "(n=..)" when some repetitions gave no value (one class only in that held-out part).
    rows = [[METRIC_TITLES[m]] + [fmt(c[m], m, n) for c, n in columns] for m in METRIC_NAMES]
    note = (
        "Each column scores one dataset's held-out images only (Table I pools them). A repetition whose "
        "held-out part of a dataset holds one class only gives that column no value."
    )
    return Table(header, rows, f"{model_title(model)}, {label}: Table I by test dataset, mean ± sd", [note])
