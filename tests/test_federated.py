"""Federated training: sites cut by baby, the proximal term, synthetic hospitals, and a tiny Flower simulation
(FedAvg and FedProx, a site with bad data, a restarted server resuming, the record in card and ONNX)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_helpers import make_faces

from neopain.data import read_manifest, write_manifest
from neopain.data.synth_sites import SITES, site_configs
from neopain.data.synthetic import SynthConfig, identity_for, render_image
from neopain.federated import FederationError, FederationPlan, SiteError, simulate, sites_from
from neopain.federated.client import round_seed
from neopain.federated.server import MODEL_FILE, STATE_FILE
from neopain.federated.sites import read_site, site_seed
from neopain.models import create_model
from neopain.train import TrainConfig, load_checkpoint, read_checkpoint, train_epochs
from neopain.train.rounds import proximal_term

TINY = {"input_size": 32, "pretrained": False, "batch_size": 4, "augment": "none"}


def _plan(**changes) -> FederationPlan:
    return FederationPlan(**{"out_dir": "", "model": "ncnn", "rounds": 2, "local_epochs": 1, "train": TINY,
                             **changes})


@pytest.fixture(scope="module")
def nine_babies(tmp_path_factory) -> Path:
    manifest, _ = make_faces(tmp_path_factory.mktemp("faces"), subjects=9, per_class=3, size=32)
    return manifest


def test_round_seeds_differ_per_site_and_round_and_repeat_per_run(nine_babies):
    first, second = sites_from([nine_babies], 2, seed=4)
    seeds = {(site.name, rnd): round_seed({"seed": 7, "server-round": rnd}, site)
             for site in (first, second) for rnd in (1, 2, 3)}
    assert len(set(seeds.values())) == 6  # no two (site, round) pairs draw the same numbers
    # A resumed run counts rounds from its offset: its round 1 is the first run's round 3.
    assert round_seed({"seed": 7, "server-round": 1, "round-offset": 2}, first) == seeds[(first.name, 3)]
    assert round_seed({"seed": 8, "server-round": 1}, first) != seeds[(first.name, 1)]
    assert site_seed(7, first, 1) == seeds[(first.name, 1)]


def test_sites_cut_by_baby_reproducibly(nine_babies):
    sites = sites_from([nine_babies], 3, seed=4)
    subjects = [site.subjects for site in sites]
    assert sum(len(s) for s in subjects) == 9 and not (subjects[0] & subjects[1] | subjects[1] & subjects[2])
    assert [s.subjects for s in sites_from([nine_babies], 3, seed=4)] == subjects
    assert [s.subjects for s in sites_from([nine_babies], 3, seed=5)] != subjects
    train, test = sites[0].split(seed=0)
    assert train.subjects and test.subjects and not train.subjects & test.subjects
    assert len(train.samples) + len(test.samples) == len(sites[0].samples)


def test_bad_sites_are_named(tmp_path, nine_babies):
    with pytest.raises(SiteError, match="cannot make 4 sites of at least 3 babies"):
        sites_from([nine_babies], 4, seed=0)
    rows = [s for s in read_manifest(nine_babies) if s.label == "pain"]
    one_class = write_manifest(rows, tmp_path / "calm" / "faces.csv")
    with pytest.raises(SiteError, match=r"site calm .*only class pain"):
        read_site(one_class)
    with pytest.raises(SiteError, match="more than one site"):
        sites_from([nine_babies, nine_babies], None, seed=0)


def test_proximal_term_pulls_towards_the_round_start(nine_babies):
    model = create_model("ncnn", pretrained=False, input_size=32)
    anchor = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert float(proximal_term(model, anchor, 1.0)().detach()) == 0.0
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert float(proximal_term(model, anchor, 1.0)().detach()) > 0.0

    from neopain.train import load_faces

    faces = load_faces(read_manifest(nine_babies), nine_babies, 32)
    config = TrainConfig(lr_head=1e-2, batch_size=4, augment="none", finetune="all", pretrained=False)
    drift = {}
    for mu in (0.0, 50.0):
        torch.manual_seed(0)
        model = create_model("ncnn", pretrained=False, input_size=32)
        start = [p.detach().clone() for p in model.parameters()]
        train_epochs(model, faces, config, 2, seed=1, proximal_mu=mu)
        drift[mu] = sum(float(((p.detach() - s) ** 2).sum()) for p, s in zip(model.parameters(), start))
    assert drift[50.0] < drift[0.0]


def test_synthetic_hospitals_differ_and_the_benchmark_keeps_its_bytes():
    base = SynthConfig(subjects=2, images_per_subject=2, size=64)
    assert base.camera_gains is None  # neutral knobs: the benchmark's pictures are unchanged
    configs = site_configs(3, base)
    assert list(configs) == list(SITES) and len({c.seed for c in configs.values()}) == 3
    brightness = {}
    for name, config in configs.items():
        pictures = [render_image(config, identity_for(config, s), s, k).image for s in (1, 2) for k in (0, 1)]
        brightness[name] = float(np.mean(pictures))
    assert brightness["hospital-a"] > brightness["hospital-b"] + 10  # light skin, bright room vs dark, dim
    with pytest.raises(ValueError, match="skin_tones"):
        SynthConfig(skin_tones=(0.8, 0.2))


def test_plan_refuses_bad_settings():
    with pytest.raises(FederationError, match="strategy"):
        _plan(strategy="fedsgd")
    with pytest.raises(FederationError, match="proximal mu"):
        _plan(strategy="fedprox", proximal_mu=0.0)


@pytest.mark.slow
def test_simulation_compares_reports_and_records(tmp_path, nine_babies):
    from neopain.federated.report import write_report

    results = simulate([nine_babies], tmp_path / "sim", _plan(strategy="fedprox", proximal_mu=0.1), sites=2)
    models = results["models"]
    assert set(models) == {"federated", "central", "alone:site-1", "alone:site-2"}
    for scores in models.values():
        assert set(scores) == {"site-1", "site-2", "pooled"}
        assert scores["pooled"]["images"] == scores["site-1"]["images"] + scores["site-2"]["images"]
    assert "federated_minus_central" in results["summary"]
    _, page = write_report(results, tmp_path / "sim")
    html = page.read_text()
    assert "site-1" in html and "pooled" in html and "Synthetic hospitals" in html

    ckpt = read_checkpoint(tmp_path / "sim" / "federated" / MODEL_FILE)
    record = ckpt["federation"]
    assert record["strategy"] == "fedprox" and record["rounds"] == 2 and set(record["sites"]) == {"site-1", "site-2"}
    assert all(site["rounds_trained"] == 2 and site["train_faces"] > 0 for site in record["sites"].values())
    written = (tmp_path / "sim" / "federated" / "federation.json").read_text()
    card = (tmp_path / "sim" / "federated" / "model_card.json").read_text()
    for sample in read_manifest(nine_babies):  # no subject id, no file name leaves a site
        assert sample.subject not in written and sample.subject not in card
        assert Path(sample.path).name not in written
    assert json.loads(card)["synthetic"] is True

    from neopain.export import export_checked
    from neopain.inference import META_FEDERATION, OnnxClassifier

    onnx = export_checked(tmp_path / "sim" / "federated" / MODEL_FILE, tmp_path / "fed.onnx").path
    meta = json.loads(OnnxClassifier(onnx).metadata[META_FEDERATION])
    assert meta["sites"]["site-1"]["train_faces"] == record["sites"]["site-1"]["train_faces"]


@pytest.mark.slow
def test_bad_site_fails_alone_and_a_restarted_server_resumes(tmp_path, nine_babies):
    rows = read_manifest(nine_babies)
    subjects = sorted({s.subject for s in rows})
    manifests = []
    for k, group in enumerate((subjects[:3], subjects[3:6], subjects[6:])):
        folder = tmp_path / f"h{k}"
        keep = [s for s in rows if s.subject in group]
        for s in keep:
            (folder / s.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / s.path).write_bytes((nine_babies.parent / s.path).read_bytes())
        manifests.append(write_manifest(keep, folder / "faces.csv"))
    broken = next(s for s in read_manifest(manifests[2]))
    (manifests[2].parent / broken.path).unlink()  # this hospital lost a face file after checking in

    out = tmp_path / "run"
    simulate(manifests, out, _plan(rounds=1), compare=False)
    state = torch.load(out / "federated" / STATE_FILE, weights_only=False)
    assert state["round"] == 1
    failures = [f for e in state["journal"] for f in e["failed"]]
    assert failures and all("face file(s) missing" in f["reason"] for f in failures)
    trained = {s["site"] for e in state["journal"] if e["step"] == "train" for s in e["sites"]}
    assert trained == {"h0", "h1"}

    first = load_checkpoint(out / "federated" / MODEL_FILE)[0].state_dict()
    simulate(manifests, out, _plan(rounds=2, resume=True), compare=False)
    state = torch.load(out / "federated" / STATE_FILE, weights_only=False)
    assert state["round"] == 2
    assert sorted({e["round"] for e in state["journal"]}) == [1, 2]  # round 1 kept, only round 2 run again
    second = load_checkpoint(out / "federated" / MODEL_FILE)[0].state_dict()
    assert any(not torch.equal(first[k], second[k]) for k in first if first[k].is_floating_point())
    with pytest.raises(FederationError, match="other model"):
        simulate(manifests, out, _plan(rounds=3, resume=True, model="resnet18"), compare=False)


def test_batchnorm_variance_is_the_pooled_sites_variance():
    from flwr.app import ArrayRecord, MetricRecord, RecordDict

    from neopain.federated.server import pooled_batchnorm

    def reply(mean: float, n: int) -> RecordDict:
        arrays = ArrayRecord({"bn.running_mean": torch.full((2,), mean), "bn.running_var": torch.ones(2),
                              "w": torch.full((2,), mean)})
        return RecordDict({"arrays": arrays, "metrics": MetricRecord({"num-examples": n})})

    replies = [reply(0.0, 10), reply(2.0, 10)]
    averaged = ArrayRecord({"bn.running_mean": torch.ones(2), "bn.running_var": torch.ones(2),
                            "w": torch.ones(2)})  # what FedAvg's weighted mean gives
    pooled = pooled_batchnorm(averaged, replies).to_torch_state_dict()
    assert torch.allclose(pooled["bn.running_var"], torch.full((2,), 2.0))  # 1 within + 1 between the sites
    assert torch.equal(pooled["bn.running_mean"], torch.ones(2)) and torch.equal(pooled["w"], torch.ones(2))
