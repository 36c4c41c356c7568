"""The report's NFCS section: per action and score tables for each protocol, from the saved repetitions."""

from __future__ import annotations

import math
from collections.abc import Sequence

from neopain.evaluate import tables as tb
from neopain.evaluate.metrics import Summary
from neopain.evaluate.nfcs import ACTION_METRICS, HUMAN_KAPPA, repeat_metrics, summarize_repeats
from neopain.evaluate.render import Block, Heading, Paragraph, Table
from neopain.evaluate.results import Record

ACTION_TITLES = {"roc_auc": "AUC", "f1": "F1", "sensitivity": "Sensitivity", "specificity": "Specificity"}


def _cell(summary: Summary, metric: str) -> str:
    if summary.n == 0 or math.isnan(summary.mean):
        return "n/a"
    return f"{tb.fmt(summary, metric)} {tb.fmt_ci(summary, metric)}"


def nfcs_summaries(records: Sequence[Record]) -> dict[str, Summary] | None:
    """Every NFCS metric over the repetitions that saved NFCS predictions, or None when none did."""
    runs = [repeat_metrics(r.info["nfcs"], r.y) for r in records if r.info.get("nfcs")]
    if not runs:
        return None
    coded = [r for r in records if r.info.get("nfcs")]
    return summarize_repeats(runs, tb.test_train_ratio(coded))


def _action_table(summaries: dict[str, Summary], actions: Sequence[str], where: str) -> Table:
    rows = [[a.replace("_", " ")] + [_cell(summaries[f"{a}.{m}"], m) for m in ACTION_METRICS] for a in actions]
    aucs = [summaries[f"{a}.roc_auc"].mean for a in actions if not math.isnan(summaries[f"{a}.roc_auc"].mean)]
    notes = []
    if aucs:
        weakest = min(actions, key=lambda a: summaries[f"{a}.roc_auc"].mean
                      if not math.isnan(summaries[f"{a}.roc_auc"].mean) else math.inf)
        notes.append(f"Mean per-action AUC {sum(aucs) / len(aucs):.3f} over {len(aucs)} actions; weakest: "
                     f"{weakest.replace('_', ' ')} ({summaries[f'{weakest}.roc_auc'].mean:.3f}).")
    notes.append("Mean ± sd over repetitions, [95% CI, Nadeau-Bengio corrected]; rows that do not code an "
                 "action are left out of its metrics (unknown, never absent).")
    header = ["Action", *(ACTION_TITLES[m] for m in ACTION_METRICS)]
    return Table(header, rows, f"NFCS actions, {where}", notes)


def _score_table(summaries: dict[str, Summary], pain_auc: Summary, version: str, where: str) -> Table:
    def number(name: str, digits: int = 3) -> str:
        s = summaries[name]
        if s.n == 0 or math.isnan(s.mean):
            return "n/a"
        spread = "" if math.isnan(s.sd) else f" ± {s.sd:.{digits}f}"
        ci = "" if math.isnan(s.ci_low) else f" [{s.ci_low:.{digits}f}, {s.ci_high:.{digits}f}]"
        return f"{s.mean:.{digits}f}{spread}{ci}"

    rows = [
        [f"{version} score vs truth: MAE (actions)", number("score_mae")],
        ["score: quadratic-weighted kappa", number("score_kappa") + f" (professionals: {HUMAN_KAPPA:.2f})"],
        ["score: ICC(2,1)", number("score_icc")],
        ["count output: MAE vs nfcs_score", number("count_mae")],
        ["pain by the NFCS rule: AUC (expected score)", number("rule_auc")],
        ["pain by the NFCS rule: sensitivity / specificity",
         f"{number('rule_sensitivity')} / {number('rule_specificity')}"],
        ["pain head (direct): AUC", _cell(pain_auc, "roc_auc")],
    ]
    notes = [(f"The professionals' line: inter-rater kappa {HUMAN_KAPPA:.2f} among clinicians coding NFCS "
              "(BrJP 2021). The score is compared on the test rows that code every action of the version.")]
    return Table(["NFCS score and pain", "value"], rows, f"NFCS score, {where}", notes)


def nfcs_blocks(groups: tb.Groups, protocol: str, label: str) -> list[Block]:
    """The NFCS section of one protocol: a table pair per NFCS model of the main design; [] if none."""
    design = tb.main_design(groups, protocol)
    blocks: list[Block] = []
    for (proto, dsg, model), records in sorted(groups.items()):
        if proto != protocol or dsg != design:
            continue
        summaries = nfcs_summaries(records)
        if summaries is None:
            continue
        first = next(r.info["nfcs"] for r in records if r.info.get("nfcs"))
        where = f"{tb.model_title(model)}, {label}, trained on {design}"
        pain_auc = tb.summaries(records)["roc_auc"]
        blocks += [
            Heading(f"NFCS coding, {label}", 3),
            Paragraph("Each action is one sigmoid output of the multi-task model, scored against the "
                      "synthetic or manual truth of the test rows; the score is the number of actions present "
                      f"(p >= 0.5) among those {first['version']} counts."),
            _action_table(summaries, first["actions"], where),
            _score_table(summaries, pain_auc, first["version"], where),
        ]
    return blocks
