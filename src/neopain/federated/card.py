"""The model card of a federated model: what was trained where (sites, rounds, faces per site, strategy,
privacy settings), how it was tested (at each site on its own held-out babies; pooled in a simulation), and
the limits. The server never holds a row, so the card holds counts and hashes, never a site's data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from neopain.core.atomic import atomic_write_bytes
from neopain.evaluate import INTENDED_USE, LIMITS, SYNTHETIC_LIMIT

SCHEMA = "neopain.federated_card/1"
CARD_JSON, CARD_MD = "model_card.json", "model_card.md"  # where `neopain export` looks, beside the checkpoint


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def federated_card(checkpoint: dict[str, Any], simulation: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card for a federated checkpoint (`server.final_checkpoint`), with a simulation's results if any."""
    record, config = checkpoint["federation"], checkpoint["config"]
    synthetic = bool(checkpoint["datasets"]) and all(d == "synthetic" for d in checkpoint["datasets"])
    sites = {name: {k: _finite(v) for k, v in site.items()} for name, site in record["sites"].items()}
    evaluation: dict[str, Any] = {
        "at_sites": {name: {"test_auc": site.get("test_auc_last_round"), "test_images": site.get("test_faces")}
                     for name, site in sites.items()},
        "split": "subject-independent: each site holds out its own babies and tests the global model on them",
    }
    if simulation is not None:
        evaluation["simulation"] = {"split": simulation["data"]["split"], "summary": simulation["summary"],
                                    "federated": simulation["models"]["federated"]}
    return {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "synthetic": synthetic,
        "model": {"name": config["name"], "input_size": config.get("input_size"),
                  "training": checkpoint["train_config"], "trained_on": "the sites' training babies, federated"},
        "federation": {**record, "sites": sites},
        "evaluation": evaluation,
        "intended_use": INTENDED_USE,
        "limits": ([SYNTHETIC_LIMIT] if synthetic else []) + list(LIMITS),
    }


def card_markdown(card: dict[str, Any]) -> str:
    fed = card["federation"]
    lines = [f"# Model card: {card['model']['name']} (federated)", ""]
    if card["synthetic"]:
        lines += [f"> **{SYNTHETIC_LIMIT}**", ""]
    privacy = fed["privacy"]
    lines += [f"- Flower, {fed['strategy']}" + (f" (mu {fed['proximal_mu']})" if fed.get("proximal_mu") else "")
              + f", {fed['rounds']} rounds x {fed['local_epochs']} local epoch(s)",
              f"- shared by the sites: {fed['shared']}",
              (f"- differential privacy: {privacy['differential_privacy'] or 'off'}; secure aggregation: "
               f"{'on' if privacy['secure_aggregation'] else 'off'}"), "",
              "| site | training faces | test faces | test AUC (last round, at the site) | rows hash |",
              "|---|---|---|---|---|"]
    for name, site in fed["sites"].items():
        auc = site.get("test_auc_last_round")
        lines.append(f"| {name} | {site.get('train_faces', 'n/a')} | {site.get('test_faces', 'n/a')} | "
                     f"{'n/a' if auc is None else f'{auc:.3f}'} | {site['fingerprint']} |")
    if fed["failures"]:
        lines += ["", f"Failures ({len(fed['failures'])}): " + "; ".join(
            f"round {f['round']} {f['step']}: node {f['node']}: {f['reason']}" for f in fed["failures"][:10])]
    lines += ["", "## Intended use", "", card["intended_use"], "", "## Limits", ""]
    lines += [f"- {limit}" for limit in card["limits"]]
    return "\n".join(lines) + "\n"


def write_federated_card(out_dir: str | Path, card: dict[str, Any]) -> Path:
    out = Path(out_dir)
    atomic_write_bytes(out / CARD_MD, card_markdown(card).encode())
    return atomic_write_bytes(out / CARD_JSON, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
