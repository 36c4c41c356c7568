"""The region prior: region masks for training faces, the attribution share it penalises, and its effect."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import neopain.cli.train  # noqa: F401  (registers the commands)
from neopain.cli.apps import app
from neopain.data.manifest import Sample, binary_task, read_manifest, write_manifest
from neopain.faces.regions import CANONICAL_LANDMARKS
from neopain.models import create_model, normalize_bgr
from neopain.pixels.augment import Augmenter
from neopain.pixels.imageio import write_image
from neopain.pixels.preprocess import HeadConfig
from neopain.train.checkpoint import read_checkpoint
from neopain.train.data import load_faces
from neopain.train.loop import batch_starts, make_runtime, region_batches, train_step
from neopain.train.prior import RegionPrior, feature_blur, outside_share, path_attribution, region_penalty
from neopain.train.regions import RegionMaskError, region_masks, resolve_source
from neopain.train.trainer import TrainConfig, train

torch.set_num_threads(1)

SIZE = 32
# The "region": a band across the lower middle of the crop, where the pain cue sits.
REGION_ROWS = slice(16, 26)


def _face(label: str, rng: np.random.Generator) -> np.ndarray:
    """Pain shows twice, as strongly: a bar inside the region and a block in a corner outside it."""
    image = rng.integers(60, 120, size=(SIZE, SIZE, 3), dtype=np.uint8)
    if label == "pain":
        image[18:24, 4:28] = (40, 60, 230)
        image[2:8, 2:8] = (40, 60, 230)
    return image


def _region_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[REGION_ROWS, 2:30] = 1 << 3  # the mouth's bit; any region counts
    return mask


def _faces_with_masks(folder, subjects: int = 4, per_class: int = 4, masks: bool = True):
    rng = np.random.default_rng(0)
    samples = []
    for s in range(subjects):
        for label in ("pain", "no_pain"):
            for k in range(per_class):
                rel = f"crops/s{s}_{label}_{k}.png"
                write_image(folder / rel, _face(label, rng))
                mask_rel = f"masks/s{s}_{label}_{k}.png" if masks else ""
                if masks:
                    write_image(folder / mask_rel, _region_mask())
                samples.append(Sample(path=rel, subject=f"S{s}", dataset="synthetic", label=label, mask_path=mask_rel))
    return write_manifest(samples, folder / "faces.csv"), samples


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    manifest, _ = _faces_with_masks(tmp_path_factory.mktemp("regions"))
    return manifest, binary_task(read_manifest(manifest))


def test_true_masks_are_read_as_the_union_of_regions_at_the_input_size(faces):
    manifest, samples = faces
    masks, source = region_masks(samples, manifest, 16)
    assert source == "mask" and masks.shape == (len(samples), 16, 16) and masks.dtype == np.uint8
    assert set(np.unique(masks)) == {0, 1}
    assert masks[:, 8:13, 1:15].all() and not masks[:, :8].any() and not masks[:, 13:].any()
    assert not masks[:, :, 0].any() and not masks[:, :, 15].any()


def test_auto_takes_placed_regions_unless_every_row_has_a_mask(faces):
    _, samples = faces
    assert resolve_source(samples, "auto") == "mask"
    assert resolve_source([*samples, replace(samples[0], mask_path="")], "auto") == "placed"
    with pytest.raises(ValueError, match="region source"):
        resolve_source(samples, "eyes")


def test_placed_regions_sit_on_the_face_of_the_crop(tmp_path):
    manifest, samples = _faces_with_masks(tmp_path, subjects=2, per_class=1, masks=False)
    (tmp_path / "crop.json").write_text(json.dumps({"size": SIZE, "margin": 0.25, "align": False}))
    masks, source = region_masks(samples, manifest, 64)
    assert source == "placed"
    # The crop with margin 0.25 holds the face box in its central two thirds (64 / 1.5 px from 10.7 px).
    side, start = 64 / 1.5, 64 * 0.25 / 1.5
    mouth = CANONICAL_LANDMARKS[3:].mean(axis=0) * side + start
    assert masks[:, int(mouth[1]), int(mouth[0])].all()
    assert not masks[:, : int(start)].any()  # nothing above the face box: the brow starts inside it
    assert 0.1 < masks.mean() < 0.5


def test_missing_or_bad_masks_are_named(faces, tmp_path):
    manifest, samples = faces
    with pytest.raises(RegionMaskError, match="no mask_path"):
        region_masks([replace(samples[0], mask_path="")], manifest, 16, "mask")
    with pytest.raises(RegionMaskError, match=r"nope\.png.*row for"):
        region_masks([replace(samples[0], mask_path="masks/nope.png")], manifest, 16, "mask")
    blank = tmp_path / "blank.png"
    write_image(blank, np.zeros((SIZE, SIZE), np.uint8))
    with pytest.raises(RegionMaskError, match="no NFCS region"):
        region_masks([replace(samples[0], mask_path=str(blank))], manifest, 16, "mask")
    # A mask of the whole photo beside a face crop would be squeezed onto the crop without a word.
    whole = tmp_path / "whole.png"
    write_image(whole, np.ones((2 * SIZE, 2 * SIZE), np.uint8))
    with pytest.raises(RegionMaskError, match=r"mask is 64x64, its face 32x32"):
        region_masks([replace(samples[0], mask_path=str(whole))], manifest, 16, "mask")


class _Linear(torch.nn.Module):
    """A decision linear in the pixels (pain logit = sum of weights x pixels), with a BatchNorm to watch."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.weights = weights
        self.norm = torch.nn.BatchNorm2d(3)
        self.cfg = SimpleNamespace(labels=("no_pain", "pain"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.norm(x)  # only its running statistics matter here
        pain = (x * self.weights).flatten(1).sum(1)
        return torch.stack([torch.zeros_like(pain), pain], dim=1)


def test_outside_share_reads_the_map_at_the_feature_scale():
    side = 64  # feature blur sigma ~1.9 px
    regions = torch.zeros(1, 1, side, side)
    regions[:, :, 16:48] = 1  # half the image
    inside = torch.zeros(1, 1, side, side)
    inside[:, :, 24:40, 24:40] = 1.0  # well inside: the blur keeps it there
    assert outside_share(inside, regions).item() < 0.01
    assert outside_share(torch.ones(1, 1, side, side), regions).item() == pytest.approx(0.5, abs=1e-4)
    # Pixel speckle outside the regions cancels at the feature scale; a signed blob inside does not.
    speckle = torch.zeros(1, 1, side, side)
    speckle[:, :, :16] = torch.tensor([1.0, -1.0]).repeat(side // 2)[None, :] * torch.tensor([1.0, -1.0]).repeat(8)[:, None]
    assert outside_share(speckle + 0.05 * inside, regions).item() < 0.25
    raw = (speckle + 0.05 * inside).abs()
    assert (raw * (1 - regions)).sum() / raw.sum() > 0.9  # read pixel by pixel, the speckle dominates


def test_path_attribution_of_a_linear_decision_is_exact_and_leaves_batchnorm_alone():
    torch.manual_seed(0)
    weights = torch.randn(1, 3, 32, 32)
    model = _Linear(weights).train()
    x = torch.randn(2, 3, 32, 32)
    attribution = path_attribution(model, x, pain=1, autocast=contextlib.nullcontext)
    expected = ((x - feature_blur(x)) * weights).sum(1, keepdim=True)
    assert attribution.shape == (2, 1, 32, 32) and torch.allclose(attribution, expected, atol=1e-5)
    # Completeness: the map sums to f(x) - f(baseline).
    gap = (x * weights).flatten(1).sum(1) - (feature_blur(x) * weights).flatten(1).sum(1)
    assert torch.allclose(attribution.flatten(1).sum(1), gap, atol=1e-3)
    assert model.training and torch.equal(model.norm.running_mean, torch.zeros(3))


def test_region_batches_move_with_the_images_warps():
    n, batch = 40, 16
    regions = torch.zeros(n, 1, 24, 24, dtype=torch.uint8)
    regions[:, :, 8:16, 4:20] = 1
    plan = Augmenter(seed=5).plan(n, 24, 24, "cpu")
    starts = batch_starts(n, batch)
    got = torch.cat(list(region_batches(regions, starts, batch, plan)))
    assert set(got.unique().tolist()) == {0.0, 1.0}
    # A white block painted where the regions are, warped as an image and divided by its gain, lands there too.
    painted = plan.apply(regions.float() * 200) / plan.gain
    assert ((painted > 100).float() == got).float().mean() > 0.99
    assert torch.equal(torch.cat(list(region_batches(regions, starts, batch, None))), regions.float())


def test_the_prior_term_reaches_the_weights_through_the_gradient():
    torch.manual_seed(0)
    model = create_model("ncnn", pretrained=False, input_size=SIZE).train()
    regions = torch.zeros(4, 1, SIZE, SIZE)
    regions[:, :, REGION_ROWS] = 1
    penalty = region_penalty(model, torch.randn(4, 3, SIZE, SIZE), RegionPrior(regions, 1.0), contextlib.nullcontext)
    assert 0.0 < penalty.item() <= 1.0
    # Without create_graph the penalty would not depend on the weights at all (autograd would refuse).
    first = next(p for p in model.parameters() if p.requires_grad)
    (grad,) = torch.autograd.grad(penalty, first)
    assert grad.abs().sum() > 0


def test_a_prior_step_adds_weight_times_a_share_to_the_loss():
    model = create_model("ncnn", pretrained=False, input_size=SIZE)
    runtime = make_runtime("cpu")
    x, y = torch.randn(4, 3, SIZE, SIZE), torch.tensor([0, 1, 0, 1])
    regions = torch.zeros(4, 1, SIZE, SIZE)
    regions[:, :, REGION_ROWS] = 1
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss_plain, _ = train_step(model, x, y, optimizer, runtime)
    loss_prior, _ = train_step(model, x, y, optimizer, runtime, RegionPrior(regions, 10.0))
    # lr 0: the weights stay; the loss grows by 10 x a share in (0, 1].
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 0.0 < (loss_prior - loss_plain).item() <= 10.0 + 1e-4


def _attribution_outside(result, manifest, samples) -> float:
    faces = load_faces(samples, manifest, SIZE)
    model = result.model.eval()
    x = normalize_bgr(faces.images, model.cfg)
    regions = torch.zeros(len(samples), 1, SIZE, SIZE)
    regions[:, :, REGION_ROWS, 2:30] = 1
    torch.manual_seed(0)
    shares = [outside_share(path_attribution(model, x, 1, contextlib.nullcontext), regions) for _ in range(8)]
    return float(torch.stack(shares).mean().detach())


def test_the_prior_moves_the_decision_into_the_regions(faces, tmp_path):
    manifest, samples = faces
    config = TrainConfig(epochs=8, batch_size=8, patience=8, augment="none", pretrained=False, input_size=SIZE,
                         device="cpu", lr_head=1e-3, final=True, finetune="all", head=HeadConfig(units=(32,), l1=0.0))
    plain = train(samples, manifest, "ncnn", tmp_path / "plain", config)
    prior = train(samples, manifest, "ncnn", tmp_path / "prior", replace(config, region_prior=5.0))
    assert read_checkpoint(prior.checkpoint)["region_source"] == "mask"
    assert read_checkpoint(plain.checkpoint)["region_source"] is None
    outside_plain = _attribution_outside(plain, manifest, samples)
    outside_prior = _attribution_outside(prior, manifest, samples)
    # Measured: 0.54 without the prior, 0.25 with it.
    assert outside_prior < 0.75 * outside_plain, (outside_plain, outside_prior)


def test_training_with_the_prior_is_seeded_and_resumes_exactly(faces, tmp_path):
    manifest, samples = faces
    config = TrainConfig(epochs=2, batch_size=8, patience=5, augment="online", pretrained=False, input_size=SIZE,
                         device="cpu", lr_head=1e-3, final=True, finetune="all", region_prior=1.0)
    a = train(samples, manifest, "ncnn", tmp_path / "a", config)
    train(samples, manifest, "ncnn", tmp_path / "b", replace(config, epochs=1))
    b = train(samples, manifest, "ncnn", tmp_path / "b", replace(config, resume=True))
    wa, wb = read_checkpoint(a.last_checkpoint)["model"], read_checkpoint(b.last_checkpoint)["model"]
    assert len(b.history) == 2 and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bad_prior_options_are_refused():
    with pytest.raises(ValueError, match="online"):
        TrainConfig(region_prior=1.0, augment="offline")
    with pytest.raises(ValueError, match="region_prior"):
        TrainConfig(region_prior=-1.0, augment="online")
    with pytest.raises(ValueError, match="region_source"):
        TrainConfig(region_source="eyes")


def test_train_command_takes_the_prior_and_refuses_it_with_offline_copies(faces, tmp_path):
    manifest, _ = faces
    runner = CliRunner()
    base = ["train", str(manifest), "--model", "ncnn", "--epochs", "1", "--batch-size", "4", "--input-size",
            str(SIZE), "--device", "cpu", "--no-pretrained", "--region-prior", "1"]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "ok"), "--augment", "online"])
    assert result.exit_code == 0, result.output
    assert read_checkpoint(tmp_path / "ok" / "last.pt")["train_config"]["region_prior"] == 1.0
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "bad"), "--augment", "offline"])
    assert result.exit_code == 2 and "online" in result.output


def test_evaluate_trains_every_repetition_with_the_prior(faces, tmp_path):
    import neopain.cli.evaluate  # noqa: F401  (registers the command)

    manifest, _ = faces
    out = tmp_path / "ev"
    args = ["evaluate", str(manifest), "--protocol", "subject", "--models", "ncnn", "--repeats", "1", "--epochs",
            "1", "--batch-size", "8", "--input-size", str(SIZE), "--no-pretrained", "--device", "cpu",
            "--no-baseline", "--region-prior", "2", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--augment", "offline"])
    assert result.exit_code == 2 and "online" in result.output and not out.exists()
    result = CliRunner().invoke(app, [*args, "--augment", "none"])
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "evaluation.json").read_text())["settings"]
    assert settings["train"]["region_prior"] == 2.0 and settings["train"]["region_source"] == "auto"
