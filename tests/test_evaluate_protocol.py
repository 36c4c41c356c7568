"""Running an evaluation protocol on tiny written faces: records, subject independence, resume, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_helpers import make_faces

from neopain.data.manifest import write_manifest
from neopain.evaluate.protocol import EvalConfig, plan, run_protocol
from neopain.evaluate.report import build_report
from neopain.evaluate.results import ResultsError, load_records, record_path
from neopain.evaluate.splits import SplitError
from neopain.train.trainer import TrainConfig, train

torch.set_num_threads(1)

TINY_TRAINING = TrainConfig(
    epochs=1, batch_size=8, augment="none", input_size=32, pretrained=False, device="cpu", amp=False
)


def tiny_config(**changes) -> EvalConfig:
    return EvalConfig(**{"models": ("ncnn",), "repeats": 2, "train": TINY_TRAINING, **changes})


class CountingTrainer:
    """The real trainer, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return train(*args, **kwargs)


@pytest.fixture()
def faces(tmp_path: Path):
    return make_faces(tmp_path / "data", subjects=5, per_class=3, size=32)


def test_run_saves_one_record_per_repetition_and_keeps_subjects_apart(faces, tmp_path: Path) -> None:
    manifest, samples = faces
    trainer, out = CountingTrainer(), tmp_path / "run"
    files = run_protocol(samples, manifest, out, tiny_config(), trainer=trainer, progress=False)
    assert len(files) == 8 and all(f.is_file() for f in files)  # 2 protocols x (ncnn + baseline) x 2 repeats
    assert trainer.calls == 4  # the baseline does not go through the trainer
    records = load_records(out)
    assert {(r.protocol, r.model) for r in records} == {
        (p, m) for p in ("paper", "subject") for m in ("ncnn", "baseline")
    }
    for file in files:
        saved = json.loads(file.read_text())
        assert len(saved["y"]) == len(saved["p"]) == saved["n_test"] == len(saved["test_paths"])
        dataset_of = {s.path: s.dataset for s in samples}
        assert saved["test_datasets"] == [dataset_of[path] for path in saved["test_paths"]]
        crossing = set(saved["train_subjects"]) & set(saved["test_subjects"])
        if saved["protocol"] == "subject":
            assert saved["label"] == "subject-independent hold-out" and not crossing
        else:
            assert saved["label"] == "image-wise hold-out" and crossing  # the paper's protocol mixes babies
    paper = [r for r in records if r.protocol == "paper"]
    assert paper[0].paths != paper[1].paths  # repetitions differ
    # Per-repetition checkpoints are deleted once scored.
    assert not (out / "work").exists() and not list(out.rglob("*.pt"))


def test_workers_side_by_side_give_the_sequential_records_and_resume(faces, tmp_path: Path) -> None:
    manifest, samples = faces
    config = tiny_config(protocols=("subject",), repeats=3, train=replace(TINY_TRAINING, seed=3))
    alone = run_protocol(samples, manifest, tmp_path / "alone", config, progress=False)
    first = record_path(tmp_path / "pair", "subject", "synthetic", "ncnn", 0)
    first.parent.mkdir(parents=True)
    finished = json.loads(record_path(tmp_path / "alone", "subject", "synthetic", "ncnn", 0).read_text())
    first.write_text(json.dumps({**finished, "info": {**finished["info"], "seconds": -1}}))
    pair = run_protocol(samples, manifest, tmp_path / "pair", config, progress=False, workers=2)
    assert [p.relative_to(tmp_path / "pair") for p in pair] == [p.relative_to(tmp_path / "alone") for p in alone]
    for a, b in zip(alone, pair, strict=True):
        ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
        assert (ra["key"], ra["test_paths"], ra["y"]) == (rb["key"], rb["test_paths"], rb["y"])
        np.testing.assert_allclose(ra["p"], rb["p"], atol=1e-4)  # the same training, one thread each
    assert json.loads(first.read_text())["info"]["seconds"] == -1  # finished before: not trained again
    with pytest.raises(SplitError, match="workers must be >= 1"):
        run_protocol(samples, manifest, tmp_path / "none", config, progress=False, workers=0)


def test_resume_skips_finished_repetitions_and_refuses_other_settings(faces, tmp_path: Path) -> None:
    manifest, samples = faces
    out = tmp_path / "run"
    config = tiny_config(protocols=("subject",), baseline=False)
    files = run_protocol(samples, manifest, out, config, trainer=CountingTrainer(), progress=False)
    first = files[0].read_text()
    files[1].unlink()  # as if interrupted during the second repetition
    again = CountingTrainer()
    run_protocol(samples, manifest, out, config, trainer=again, progress=False)
    assert again.calls == 1 and files[1].is_file()
    assert files[0].read_text() == first  # untouched
    other = CountingTrainer()
    with pytest.raises(ResultsError, match="other settings"):
        run_protocol(
            samples,
            manifest,
            out,
            tiny_config(
                protocols=("subject",),
                baseline=False,
                train=TrainConfig(**{**TINY_TRAINING.to_dict(), "epochs": 2}),
            ),
            trainer=other,
            progress=False,
        )
    assert other.calls == 0


def _relabelled(samples, **by_subject):
    return [s.with_(**by_subject.get(s.subject, {})) for s in samples]


@pytest.mark.parametrize(
    "case, match",
    [
        ("too_many_folds", "subject-wise folds"),
        ("class_absent", "absent"),
        ("dataset_missing", "not found"),
        ("unknown_model", "unknown model"),
        ("missing_face", "missing"),
    ],
)
def test_impossible_protocols_fail_before_anything_is_written(
    faces, tmp_path: Path, case: str, match: str
) -> None:
    manifest, samples = faces
    config = tiny_config()
    if case == "too_many_folds":
        config = tiny_config(folds=6)
    elif case == "class_absent":
        # Only S00 has no-pain images: every subject-wise split lacks no_pain on one side.
        samples = [s for s in samples if s.label == "pain" or s.subject == "S00"]
        config = tiny_config(protocols=("subject",))
    elif case == "dataset_missing":
        config = tiny_config(designs=(("icope",), ("icope", "synthetic")))
    elif case == "unknown_model":
        config = tiny_config(models=("ncnn", "resnet9000"))
    else:
        (manifest.parent / samples[3].path).unlink()
    trainer, out = CountingTrainer(), tmp_path / "run"
    with pytest.raises(SplitError, match=match):
        run_protocol(samples, manifest, out, config, trainer=trainer, progress=False)
    assert trainer.calls == 0 and not out.exists()


def test_two_datasets_give_table_one_designs_tested_on_the_same_images(tmp_path: Path) -> None:
    manifest, samples = make_faces(tmp_path / "data", subjects=6, per_class=3, size=32)
    a = {f"S0{i}": {"dataset": "a"} for i in range(3)}
    b = {f"S0{i}": {"dataset": "b"} for i in range(3, 6)}
    samples = _relabelled(samples, **a, **b)
    manifest = write_manifest(samples, manifest)
    for folds in (0, 3):
        jobs = plan(samples, manifest, tmp_path / "run", tiny_config(protocols=("subject",), folds=folds))
        assert {j.design for j in jobs} == {"a", "b", "a+b"}
        for design in ("a", "b"):
            for job in (j for j in jobs if j.design == design):
                assert {samples[i].dataset for i in job.split.train} == {design}
                assert {samples[i].dataset for i in job.split.test} == {"a", "b"}  # always tested on both
        test_parts = {(j.split.repeat, j.design): j.split.test.tolist() for j in jobs}
        for repeat in {j.split.repeat for j in jobs}:
            assert test_parts[repeat, "a"] == test_parts[repeat, "b"] == test_parts[repeat, "a+b"]
    assert not (tmp_path / "run").exists()  # planning writes nothing
    with pytest.raises(SplitError, match="come from one subject"):  # 2 folds of 3 subjects: 1 left to train
        plan(samples, manifest, tmp_path / "run", tiny_config(protocols=("subject",), folds=2))
    small = _relabelled(samples, S05={"dataset": "c"})  # one subject: cannot give 20% of itself
    with pytest.raises(SplitError, match="nothing of dataset '[bc]' is held out"):
        plan(small, manifest, tmp_path / "run", tiny_config(protocols=("subject",)))


def test_nfcs_scores_add_the_oracle_reference_and_the_report_names_its_ceiling(faces, tmp_path: Path) -> None:
    manifest, samples = faces
    assert {j.model for j in plan(samples, manifest, tmp_path / "a", tiny_config())} == {"ncnn", "baseline"}
    scored = [s.with_(nfcs_score=4.0 if s.label == "pain" else float(k % 3)) for k, s in enumerate(samples)]
    manifest = write_manifest(scored, manifest.parent / "scored.csv")
    out = tmp_path / "b"
    config = tiny_config(protocols=("subject",))
    assert {j.model for j in plan(scored, manifest, out, config)} == {"ncnn", "baseline", "nfcs_oracle"}
    run_protocol(scored, manifest, out, config, progress=False)
    oracle = [r for r in load_records(out) if r.model == "nfcs_oracle"]
    assert len(oracle) == 2 and all(r.metrics["roc_auc"] == 1.0 for r in oracle)  # the score defines the labels
    text = " ".join(getattr(b, "text", "") for b in build_report(out))
    assert "Ceiling (subject-independent): the true NFCS action count reaches mean AUC 1.000" in text
    assert "baseline check" in text.lower() and "ncnn reaches" in text
