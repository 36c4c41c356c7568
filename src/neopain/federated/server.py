"""The server's side (Flower ServerApp): FedAvg or FedProx over the sites' weights, a journal of every
round (which site trained on how many faces, which failed and why), the global model saved after each
round so a restarted server resumes, and at the end a neopain checkpoint that records the federation."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neopain.federated.card import federated_card, write_federated_card
from neopain.federated.client import NUM_EXAMPLES, SITE_RECORD

log = logging.getLogger(__name__)

STRATEGIES = ("fedavg", "fedprox")
STATE_FILE = "federation_state.pt"  # the global weights after the last finished round, and the journal
MODEL_FILE = "model.pt"  # the final global model, a neopain checkpoint (`neopain export` reads it)
RECORD_FILE = "federation.json"


class FederationError(ValueError):
    """The federation cannot run or resume as asked; names the file or the setting."""


@dataclass(frozen=True)
class FederationPlan:
    """What the server decides for every site: model, training, rounds, strategy. Travels as JSON."""

    out_dir: str
    model: str = "mobilenet_v2"
    rounds: int = 5
    local_epochs: int = 1
    strategy: str = "fedavg"
    proximal_mu: float = 0.01  # FedProx only
    min_sites: int = 2
    round_timeout: float = 900.0  # seconds a round waits for its sites; a silent site is then left out
    seed: int = 0
    test_size: float = 0.3
    threads: int = 0  # torch threads per site (0: torch's default); the simulation runs one per CPU
    resume: bool = False
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields (input_size, lr_head, ...)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise FederationError(f"strategy must be one of {', '.join(STRATEGIES)}, got '{self.strategy}'")
        if self.rounds < 1 or self.local_epochs < 1 or self.min_sites < 1:
            raise FederationError("rounds, local epochs and min sites must each be >= 1")
        if self.strategy == "fedprox" and self.proximal_mu <= 0:
            raise FederationError(f"FedProx needs a proximal mu > 0, got {self.proximal_mu}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FederationPlan:
        return cls(**json.loads(text))

    def train_config(self) -> Any:
        from neopain.train import TrainConfig

        return TrainConfig(**{"finetune": "all", "augment": "online", **self.train, "seed": self.seed})


def _recording(base: type) -> type:
    """A Flower strategy class that also writes each reply (site, counts, or the error) to a journal."""

    class Recording(base):  # type: ignore[misc, valid-type]
        journal: list[dict[str, Any]]
        offset: int = 0
        sent: dict[str, list[int]]

        def configure_train(self, server_round: int, arrays: Any, config: Any, grid: Any) -> Any:
            return self._remember("train", super().configure_train(server_round, arrays, config, grid))

        def configure_evaluate(self, server_round: int, arrays: Any, config: Any, grid: Any) -> Any:
            return self._remember("evaluate", super().configure_evaluate(server_round, arrays, config, grid))

        def _remember(self, step: str, messages: Iterable[Any]) -> list[Any]:
            messages = list(messages)
            self.sent[step] = [int(m.metadata.dst_node_id) for m in messages]
            return messages

        def aggregate_train(self, server_round: int, replies: Iterable[Any]) -> Any:
            replies = list(replies)
            self._record(server_round, "train", replies)
            arrays, metrics = super().aggregate_train(server_round, replies)
            answered = [m.content for m in replies if not m.has_error()]
            return (None if arrays is None else pooled_batchnorm(arrays, answered)), metrics

        def aggregate_evaluate(self, server_round: int, replies: Iterable[Any]) -> Any:
            replies = list(replies)
            self._record(server_round, "evaluate", replies)
            return super().aggregate_evaluate(server_round, replies)

        def _record(self, server_round: int, step: str, replies: list[Any]) -> None:
            entry = {"round": self.offset + server_round, "step": step, "sites": [], "failed": []}
            for msg in replies:
                if msg.has_error():
                    entry["failed"].append({"node": int(msg.metadata.src_node_id), "reason": msg.error.reason})
                    log.warning("round %d %s: node %s failed: %s", entry["round"], step,
                                msg.metadata.src_node_id, msg.error.reason)
                    continue
                site = dict(msg.content[SITE_RECORD]) if SITE_RECORD in msg.content else {}
                metrics = dict(next(iter(msg.content.metric_records.values())))
                entry["sites"].append({"node": int(msg.metadata.src_node_id), "site": site.get("name"),
                                       "fingerprint": site.get("fingerprint"),
                                       "datasets": list(site.get("datasets", [])), **metrics})
            answered = {int(msg.metadata.src_node_id) for msg in replies}
            for node in self.sent.get(step, []):
                if node not in answered:  # a site that left mid-round or missed the round's timeout
                    entry["failed"].append({"node": node, "reason": "no reply within the round (site left or timed out)"})
                    log.warning("round %d %s: node %s did not reply", entry["round"], step, node)
            self.journal.append(entry)

    return Recording


def pooled_batchnorm(arrays: Any, replies: list[Any]) -> Any:
    """BatchNorm's running variance as the pooled data's, not the mean of the sites' variances: sites whose
    faces differ (light, camera, skin) have different feature means, and that spread is variance too
    (Var = E[var_i + mean_i^2] - E[mean_i]^2, weighted by faces). FedAvg's mean of the means is already right."""
    import numpy as np
    from flwr.app import Array, ArrayRecord

    merged = {key: value.numpy() for key, value in arrays.items()}
    weights = np.array([float(r["metrics"][NUM_EXAMPLES]) for r in replies])
    if not len(weights) or weights.sum() <= 0:
        return arrays
    weights = weights / weights.sum()
    for key in [k for k in merged if k.endswith("running_var")]:
        mean_key = key[: -len("running_var")] + "running_mean"
        if mean_key not in merged:
            continue
        second = sum(w * (r["arrays"][key].numpy() + r["arrays"][mean_key].numpy() ** 2)
                     for w, r in zip(weights, replies))
        merged[key] = np.maximum(second - merged[mean_key] ** 2, 0).astype(merged[key].dtype)
    return ArrayRecord({key: Array(np.asarray(value)) for key, value in merged.items()})


def make_strategy(plan: FederationPlan, journal: list[dict[str, Any]], offset: int) -> Any:
    from flwr.serverapp.strategy import FedAvg, FedProx

    common = {"min_train_nodes": plan.min_sites, "min_evaluate_nodes": plan.min_sites,
              "min_available_nodes": plan.min_sites}
    if plan.strategy == "fedprox":
        strategy = _recording(FedProx)(proximal_mu=plan.proximal_mu, **common)
    else:
        strategy = _recording(FedAvg)(**common)
    strategy.journal, strategy.offset, strategy.sent = journal, offset, {}
    return strategy


def initial_model(plan: FederationPlan) -> Any:
    from neopain.train import build_model

    return build_model(plan.model, plan.train_config())


def read_state(out_dir: Path, plan: FederationPlan) -> dict[str, Any] | None:
    """The saved state of an interrupted run, checked against the plan (same model, seed, strategy)."""
    import torch

    path = out_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise FederationError(f"{path}: cannot read the saved federation state ({exc})") from exc
    saved = FederationPlan.from_json(state["plan"])
    same = ("model", "seed", "strategy", "proximal_mu", "local_epochs", "train", "test_size")
    changed = [k for k in same if getattr(saved, k) != getattr(plan, k)]
    if changed:
        raise FederationError(f"{path}: saved by a run with other {', '.join(changed)}; use a new --out "
                              "or the same settings to resume")
    return state


def save_state(out_dir: Path, plan: FederationPlan, model: Any, done: int, journal: list) -> None:
    import torch

    from neopain.core.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save({"plan": plan.to_json(), "model": model.state_dict(), "config": model.cfg.to_dict(),
                "round": done, "journal": journal}, buffer)
    atomic_write_bytes(out_dir / STATE_FILE, buffer.getvalue())


def federation_record(plan: FederationPlan, journal: list[dict[str, Any]], done: int) -> dict[str, Any]:
    """What the model card and the ONNX metadata keep of the federation: sites (names, row hashes,
    faces per round), rounds, strategy, failures; never a site's data."""
    sites: dict[str, dict[str, Any]] = {}
    for entry in journal:
        for reply in entry["sites"]:
            record = sites.setdefault(reply["site"], {"fingerprint": reply["fingerprint"],
                                                      "datasets": reply["datasets"]})
            if entry["step"] == "train":
                record["train_faces"] = int(reply[NUM_EXAMPLES])
                record["rounds_trained"] = record.get("rounds_trained", 0) + 1
            else:
                record["test_faces"] = int(reply[NUM_EXAMPLES])
                record["test_auc_last_round"] = reply.get("test-auc")
    failures = [{"round": e["round"], "step": e["step"], **f} for e in journal for f in e["failed"]]
    return {"framework": "flower", "strategy": plan.strategy, "proximal_mu": plan.proximal_mu if
            plan.strategy == "fedprox" else None, "rounds": done, "local_epochs": plan.local_epochs,
            "sites": sites, "failures": failures, "privacy": {"differential_privacy": None,
                                                              "secure_aggregation": False},
            "shared": "model weights and per-site counts and metrics only"}


def final_checkpoint(plan: FederationPlan, model: Any, journal: list[dict[str, Any]], done: int) -> dict:
    """A neopain checkpoint of the global model (the keys `train` writes), with the federation record."""
    record = federation_record(plan, journal, done)
    datasets = sorted({d for site in record["sites"].values() for d in site["datasets"]})
    fingerprints = ",".join(sorted(site["fingerprint"] for site in record["sites"].values()))
    return {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "config": model.cfg.to_dict(),
            "optimizer": None, "epoch": done * plan.local_epochs, "phase": 1, "history": journal,
            "manifest_hash": "federated:" + fingerprints, "seed": plan.seed, "datasets": datasets,
            "train_config": plan.train_config().to_dict(), "federation": record}


def run_federation(grid: Any, plan: FederationPlan, on_round: Callable[[int], None] | None = None) -> Path:
    """The ServerApp's work: resume or start, run the remaining rounds, write the final checkpoint."""
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord

    from neopain.train import model_from_config, save_checkpoint

    out_dir = Path(plan.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(out_dir, plan) if plan.resume else None
    model = initial_model(plan)
    journal: list[dict[str, Any]] = []
    done = 0
    if state is not None:
        from neopain.pixels.preprocess import ModelConfig

        model = model_from_config(ModelConfig.from_dict(state["config"]))
        model.load_state_dict(state["model"])
        journal, done = list(state["journal"]), int(state["round"])
        log.info("resuming the federation in %s after round %d", out_dir, done)
    remaining = plan.rounds - done
    if remaining > 0:
        config = ConfigRecord({"model-config": model.cfg.to_json(), "train-config": json.dumps(
            plan.train_config().to_dict()), "local-epochs": plan.local_epochs, "seed": plan.seed,
            "test-size": plan.test_size, "threads": plan.threads, "round-offset": done})

        def after_round(server_round: int, arrays: Any) -> Any:
            if server_round > 0:
                model.load_state_dict(arrays.to_torch_state_dict())
                save_state(out_dir, plan, model, done + server_round, journal)
                if on_round is not None:
                    on_round(done + server_round)
            return MetricRecord({"round": done + server_round})

        strategy = make_strategy(plan, journal, done)
        strategy.start(grid=grid, initial_arrays=ArrayRecord(model.state_dict()), num_rounds=remaining,
                       timeout=plan.round_timeout, train_config=config, evaluate_config=ConfigRecord(dict(config)),
                       evaluate_fn=after_round)
    final = final_checkpoint(plan, model, journal, plan.rounds)
    save_checkpoint(out_dir / MODEL_FILE, final)
    (out_dir / RECORD_FILE).write_text(json.dumps(final["federation"], indent=2, sort_keys=True) + "\n")
    write_federated_card(out_dir, federated_card(final))
    return out_dir / MODEL_FILE


def make_server_app(plan: FederationPlan | None = None) -> Any:
    """A Flower ServerApp running ``plan`` (or the plan file named in the run config: `plan`)."""
    from flwr.app import Context
    from flwr.serverapp import Grid, ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        chosen = plan
        if chosen is None:
            path = Path(str(context.run_config["plan"]))
            chosen = FederationPlan.from_json(path.read_text())
        run_federation(grid, chosen)

    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # the deployed ServerApp (`[tool.flwr.app.components] serverapp`)
        return make_server_app()
    raise AttributeError(name)
