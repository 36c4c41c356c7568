"""The simulation's report: one table per site (every model on that site's held-out babies), the pooled
table, the goal's comparison, in report.md and one self-contained report.html."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from neopain.evaluate import Heading, Paragraph, Table, to_html, to_markdown

SYNTHETIC_NOTE = ("Synthetic hospitals: these numbers validate the federated pipeline, they say nothing about "
                  "real newborns.")


def _auc(scores: dict[str, Any]) -> str:
    auc, (low, high) = scores["auc"], scores["ci"]
    if math.isnan(auc):
        return "n/a (one class)"
    return f"{auc:.3f} [{low:.3f}, {high:.3f}]"


def _model_label(name: str) -> str:
    if name.startswith("alone:"):
        return f"{name.split(':', 1)[1]} alone"
    return {"federated": "federated (Flower)", "central": "central (pooled training babies)"}.get(name, name)


def _table(results: dict[str, Any], where: str) -> Table:
    models = results["models"]
    first = next(iter(models.values()))[where]
    rows = [[_model_label(name), _auc(scores[where])] for name, scores in models.items()]
    return Table(["model", "P(pain) AUC [95% CI, babies bootstrap]"], rows,
                 caption=f"{where}: {first['images']} test images of {first['babies']} held-out babies "
                         f"({first['pain_share']:.0%} pain)")


def _goal(summary: dict[str, Any]) -> str:
    parts = []
    if "federated_minus_central" in summary:
        gap = summary["federated_minus_central"]
        parts.append(f"federated - central = {gap:+.3f} pooled AUC (goal: within 0.02: "
                     f"{'met' if gap >= -0.02 else 'not met'})")
    if "federated_minus_mean_single_site" in summary:
        gap = summary["federated_minus_mean_single_site"]
        parts.append(f"federated - mean single-site model = {gap:+.3f} (goal: above: {'met' if gap > 0 else 'not met'})")
    return "; ".join(parts) + "."


def build_blocks(results: dict[str, Any]) -> list[Any]:
    plan, data = results["plan"], results["data"]
    blocks: list[Any] = [Heading("Federated training: per site and pooled", 1)]
    if data["synthetic"]:
        blocks.append(Paragraph(SYNTHETIC_NOTE, warning=True))
    strategy = plan["strategy"] + (f" (mu {plan['proximal_mu']})" if plan["strategy"] == "fedprox" else "")
    blocks.append(Paragraph(
        f"Split: {data['split']}; every model is tested on the same held-out babies. Model {plan['model']}, "
        f"{plan['rounds']} rounds x {plan['local_epochs']} local epoch(s), {strategy}; the central and single-site "
        f"models train the same {plan['rounds'] * plan['local_epochs']} epochs from the same start. What left a "
        "site: weights and counts only."))
    sites = [[name, str(s["train_images"]), str(s["train_babies"]), f"{s['train_pain_share']:.0%}"]
             for name, s in data["sites"].items()]
    blocks.append(Table(["site", "training images", "training babies", "pain"], sites, caption="Sites"))
    for name, error in data.get("unreadable_sites", {}).items():
        blocks.append(Paragraph(f"Site {name} could not take part (its faces did not load): {error}", warning=True))
    names = [k for k in next(iter(results["models"].values())) if k != "pooled"]
    for where in [*names, "pooled"]:
        blocks.append(Heading(where, 2))
        blocks.append(_table(results, where))
    blocks.append(Paragraph(_goal(results["summary"])))
    blocks.append(Paragraph("Seconds: " + ", ".join(f"{k} {v}" for k, v in results["seconds"].items())))
    return blocks


def write_report(results: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    blocks = build_blocks(results)
    md, page = out / "report.md", out / "report.html"
    md.write_text(to_markdown(blocks, "img"))
    page.write_text(to_html(blocks, "neopain federated report"))
    return md, page
