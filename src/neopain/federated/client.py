"""A site's side of the federation (Flower ClientApp): train on its own faces from the global weights and
send back the weights and counts; evaluate the global weights on its own held-out babies and send back the
metrics. Nothing else leaves the site: no image, no row, no subject id, no prediction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neopain.federated.sites import Site, read_site, site_seed

log = logging.getLogger(__name__)

# The keys of what a site sends back (and the FedAvg weight key Flower reads).
NUM_EXAMPLES = "num-examples"
SITE_RECORD = "site"

# Decoded faces per (manifest, part, size), kept between rounds where the process lives on (simulation
# workers); a deployment's SuperNode starts a process per message and reads them again.
_FACES: dict[tuple[str, str, int, tuple[str, ...], int], Any] = {}


def site_faces(site: Site, part: str, size: int, actions: Sequence[str], seed: int, test_size: float) -> Any:
    """The FaceSet of the site's training or test part (``Site.split``), cached."""
    from neopain.train import load_faces

    key = (str(site.manifest.resolve()), site.name + "/" + part, size, tuple(actions), seed)
    if key not in _FACES:
        train, test = site.split(seed, test_size)
        chosen = train if part == "train" else test
        _FACES[key] = load_faces(chosen.samples, site.manifest, size, "cpu", actions)
    return _FACES[key]


def _model(config: Any, arrays: Any) -> Any:
    from neopain.pixels.preprocess import ModelConfig
    from neopain.train import model_from_config

    model = model_from_config(ModelConfig.from_json(str(config["model-config"])))
    model.load_state_dict(arrays.to_torch_state_dict())
    return model


def _train_config(config: Any) -> Any:
    import json

    from neopain.pixels.preprocess import HeadConfig
    from neopain.train import TrainConfig

    data = json.loads(str(config["train-config"]))
    data["head"] = HeadConfig(**data["head"]) if data.get("head") else None
    return TrainConfig(**data)


def round_seed(config: Any, site: Site) -> int:
    """A seed of (run seed, absolute round, site): each site's shuffle and augmentation differ per round."""
    absolute = int(config["server-round"]) + int(config.get("round-offset", 0))
    return site_seed(int(config["seed"]), site, absolute)


def site_record(site: Site) -> dict[str, Any]:
    """What a site says about itself: its name, its rows' hash, its datasets' names (never a row)."""
    return {"name": site.name, "fingerprint": site.fingerprint(), "datasets": site.datasets}


def train_site(site: Site, arrays: Any, config: Any) -> tuple[Any, dict[str, float]]:
    """Local epochs on the site's training part from ``arrays``: (the new state dict, metrics with counts)."""
    from neopain.train import train_epochs

    model = _model(config, arrays)
    faces = site_faces(site, "train", model.cfg.input_size, model.cfg.actions, int(config["seed"]),
                       float(config["test-size"]))
    stats = train_epochs(model, faces, _train_config(config), int(config["local-epochs"]),
                         round_seed(config, site), float(config.get("proximal-mu", 0.0)),
                         threads=int(config.get("threads", 0)) or None)
    return model.state_dict(), {NUM_EXAMPLES: len(faces), "train-loss": float(stats[-1].loss),
                                "train-subjects": len(set(faces.subjects))}


def evaluate_site(site: Site, arrays: Any, config: Any) -> dict[str, float]:
    """P(pain) AUC and cross-entropy of the global weights on the site's held-out babies, with counts."""
    from neopain.evaluate import roc_auc
    from neopain.train import make_runtime, predict_proba

    model = _model(config, arrays)
    faces = site_faces(site, "test", model.cfg.input_size, model.cfg.actions, int(config["seed"]),
                       float(config["test-size"]))
    p = predict_proba(model, faces.images, make_runtime("cpu"))[:, 1].numpy()
    y = faces.targets.numpy()
    both = len(set(y.tolist())) == 2
    loss = float(-np.mean(np.log(np.clip(np.where(y == 1, p, 1 - p), 1e-7, 1))))
    return {NUM_EXAMPLES: len(faces), "test-auc": roc_auc(y, p) if both else float("nan"), "test-loss": loss}


def make_client_app(site_for: Callable[[Any], Site]) -> Any:
    """A Flower ClientApp whose site comes from ``site_for(context)`` (node config or simulation partition)."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        site = site_for(context)
        state, metrics = train_site(site, msg.content["arrays"], msg.content["config"])
        log.info("site %s: round %s trained on %d faces", site.name, msg.content["config"]["server-round"],
                 metrics[NUM_EXAMPLES])
        return Message(RecordDict({"arrays": ArrayRecord(state), "metrics": MetricRecord(metrics),
                                   SITE_RECORD: ConfigRecord(site_record(site))}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        site = site_for(context)
        metrics = evaluate_site(site, msg.content["arrays"], msg.content["config"])
        return Message(RecordDict({"metrics": MetricRecord(metrics), SITE_RECORD: ConfigRecord(site_record(site))}),
                       reply_to=msg)

    return app


def node_site(context: Any) -> Site:
    """A deployed site: ``--node-config "faces='/data/faces.csv' site='nicu-a'"`` of its SuperNode."""
    config = context.node_config
    if "faces" not in config:
        raise ValueError("this SuperNode has no 'faces' in its node config: start it with `neopain federated site`")
    return read_site(Path(str(config["faces"])), str(config.get("site") or "") or None)


def partition_site(sites: Sequence[Site]) -> Callable[[Any], Site]:
    """A simulated site: the SuperNode's partition id picks one of ``sites``."""
    def pick(context: Any) -> Site:
        return sites[int(context.node_config["partition-id"])]
    return pick


# The deployed ClientApp (`[tool.flwr.app.components] clientapp`): the site reads its node config.
def __getattr__(name: str) -> Any:
    if name == "app":  # built on first use so importing this module does not import flwr
        return make_client_app(node_site)
    raise AttributeError(name)
