"""`neopain federated simulate`: the same ServerApp and ClientApp on Flower's simulation engine (Ray), then,
on the same splits and with the same epoch budget, a model trained centrally on the pooled training babies
and one model per site alone; every model tested per site and pooled on the held-out babies."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from neopain.federated.card import federated_card, write_federated_card
from neopain.federated.client import make_client_app, partition_site, site_faces
from neopain.federated.server import MODEL_FILE, FederationPlan, initial_model, make_server_app, read_state
from neopain.federated.sites import Site, sites_from

log = logging.getLogger(__name__)

BOOTSTRAP = 1000  # subject-cluster bootstrap resamples for the AUC intervals
RESULTS_FILE = "results.json"


def flower_quiet() -> None:
    """No telemetry and no update check: a hospital's machine calls nobody."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU only: silences a Ray warning


def run_flower_simulation(plan: FederationPlan, sites: Sequence[Site], cpus: int | None = None) -> Path:
    """Run the federation of ``plan`` over ``sites`` as virtual SuperNodes, one CPU each; returns model.pt."""
    flower_quiet()
    from flwr.simulation import run_simulation

    logging.getLogger("flwr").propagate = False  # Flower prints its own log; not twice through ours

    cpus = cpus or os.cpu_count() or 1
    model = Path(plan.out_dir) / MODEL_FILE
    model.unlink(missing_ok=True)  # a model left by an earlier run must not pass for this run's
    run_simulation(server_app=make_server_app(plan), client_app=make_client_app(partition_site(list(sites))),
                   num_supernodes=len(sites),
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": cpus, "num_gpus": 0, "include_dashboard": False,
                                                 "logging_level": logging.WARNING}})
    if not model.is_file():
        raise RuntimeError(f"the simulated federation ended without a model ({model}); see the log above")
    return model


def readable_sites(sites: Sequence[Site], size: int, plan: FederationPlan) -> tuple[list[Site], dict[str, str]]:
    """The sites whose faces load, and for the others the error (they took no part; the report says so)."""
    from neopain.train import TrainDataError

    readable, unreadable = [], {}
    for site in sites:
        try:
            for part in ("train", "test"):
                site_faces(site, part, size, (), plan.seed, plan.test_size)
            readable.append(site)
        except TrainDataError as exc:
            unreadable[site.name] = str(exc)
    return readable, unreadable


def _pooled(parts: Sequence[Any]) -> Any:
    """One FaceSet of several sites' faces (the central baseline's training set)."""
    import torch

    from neopain.train import FaceSet

    return FaceSet(torch.cat([p.images for p in parts]), torch.cat([p.targets for p in parts]),
                   [s for p in parts for s in p.subjects])


def fit_baseline(plan: FederationPlan, faces: Any, seed: int) -> Any:
    """The same model, start and epoch budget as the federation, trained on ``faces`` in one place."""
    from neopain.train import train_epochs

    model = initial_model(plan)
    train_epochs(model, faces, plan.train_config(), plan.rounds * plan.local_epochs, seed)
    return model


def cluster_auc_interval(y: np.ndarray, p: np.ndarray, subjects: Sequence[str], seed: int) -> tuple[float, float]:
    """95% interval of the AUC from a bootstrap over babies (a baby's images stay together)."""
    from neopain.evaluate import roc_auc

    ids = np.array(subjects)
    names = np.unique(ids)
    rows = {name: np.flatnonzero(ids == name) for name in names}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        pick = np.concatenate([rows[n] for n in rng.choice(names, len(names))])
        if len(set(y[pick].tolist())) == 2:
            draws.append(roc_auc(y[pick], p[pick]))
    if not draws:
        return float("nan"), float("nan")
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def site_scores(model: Any, tests: Sequence[Any], seed: int) -> dict[str, Any]:
    """AUC (with the babies' bootstrap interval) and counts per site test part, and pooled."""
    from neopain.evaluate import roc_auc
    from neopain.train import make_runtime, predict_proba

    runtime = make_runtime("cpu")
    ys, ps, ids, out = [], [], [], {}
    for name, faces in tests:
        p = predict_proba(model, faces.images, runtime)[:, 1].numpy()
        y = faces.targets.numpy()
        ys.append(y)
        ps.append(p)
        ids.extend(faces.subjects)
        out[name] = _scores(y, p, faces.subjects, seed, roc_auc)
    out["pooled"] = _scores(np.concatenate(ys), np.concatenate(ps), ids, seed, roc_auc)
    return out


def _scores(y: np.ndarray, p: np.ndarray, subjects: Sequence[str], seed: int, roc_auc: Any) -> dict[str, Any]:
    auc = roc_auc(y, p) if len(set(y.tolist())) == 2 else float("nan")
    low, high = cluster_auc_interval(y, p, subjects, seed)
    return {"auc": auc, "ci": [low, high], "images": len(y), "babies": len(set(subjects)),
            "pain_share": float(np.mean(y))}


def simulate(
    manifests: Sequence[str | Path], out_dir: str | Path, plan: FederationPlan, sites: int | None = None,
    compare: bool = True,
) -> dict[str, Any]:
    """Federate ``manifests`` (one per site, or one split into ``sites``), compare, write results.json."""
    from neopain.train import load_checkpoint, read_checkpoint

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site_list = sites_from(manifests, sites, plan.seed)
    plan = replace(plan, out_dir=str(out / "federated"), threads=plan.threads or 1)
    if plan.resume:
        read_state(Path(plan.out_dir), plan)  # a mismatch is a clear error before any simulation starts
    size = initial_model(plan).cfg.input_size
    started = time.perf_counter()
    model_path = run_flower_simulation(plan, site_list)
    seconds = {"federated": round(time.perf_counter() - started, 1)}
    site_list, unreadable = readable_sites(site_list, size, plan)
    tests = [(s.name, site_faces(s, "test", size, (), plan.seed, plan.test_size)) for s in site_list]
    trains = [site_faces(s, "train", size, (), plan.seed, plan.test_size) for s in site_list]
    models = {"federated": load_checkpoint(model_path)[0]}
    if compare:
        started = time.perf_counter()
        models["central"] = fit_baseline(plan, _pooled(trains), plan.seed)
        seconds["central"] = round(time.perf_counter() - started, 1)
        for site, faces in zip(site_list, trains):
            started = time.perf_counter()
            models[f"alone:{site.name}"] = fit_baseline(plan, faces, plan.seed)
            seconds[f"alone:{site.name}"] = round(time.perf_counter() - started, 1)
    results = {
        "data": {"manifests": [str(m) for m in manifests],
                 "synthetic": all(d == "synthetic" for s in site_list for d in s.datasets),
                 "split": f"subject-independent hold-out per site ({plan.test_size:.0%} of its babies), seed "
                          f"{plan.seed}",
                 "sites": {s.name: {"train_images": len(f), "train_babies": len(set(f.subjects)),
                                    "train_pain_share": float(f.targets.float().mean())}
                           for s, f in zip(site_list, trains)},
                 "unreadable_sites": unreadable},
        "plan": json.loads(plan.to_json()),
        "seconds": seconds,
        "models": {name: site_scores(model, tests, plan.seed) for name, model in models.items()},
    }
    results["summary"] = summary(results["models"], [s.name for s in site_list])
    (out / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    write_federated_card(model_path.parent, federated_card(read_checkpoint(model_path), results))
    return results


def summary(models: dict[str, Any], site_names: Sequence[str]) -> dict[str, Any]:
    """The issue's question in numbers: federated vs central (pooled AUC) and vs the mean single-site model."""
    pooled = {name: scores["pooled"]["auc"] for name, scores in models.items()}
    alone = [pooled[f"alone:{n}"] for n in site_names if f"alone:{n}" in pooled]
    out: dict[str, Any] = {"pooled_auc": pooled}
    if "central" in pooled:
        out["federated_minus_central"] = pooled["federated"] - pooled["central"]
    if alone:
        out["mean_single_site"] = float(np.mean(alone))
        out["federated_minus_mean_single_site"] = pooled["federated"] - out["mean_single_site"]
    return out
