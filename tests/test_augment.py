"""Per-sample, seeded augmentation with the paper's policy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neopain.pixels.augment import (
    PAPER_POLICY,
    Augmenter,
    AugmentParams,
    affine_matrices,
    apply_params,
    draw_params,
    offline_copies,
    sampling_grid,
)

torch.set_num_threads(1)


def _identity(n: int, **changes) -> AugmentParams:
    zero, one = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    values = {"angle": zero, "shear": zero, "shift_x": zero, "shift_y": zero, "zoom_x": one, "zoom_y": one,
              "flip": torch.zeros(n, dtype=torch.bool), "brightness": one}
    values.update(changes)
    return AugmentParams(**values)


def _batch(n=6, size=24, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_identity_flip_and_quarter_turn_are_exact():
    x = _batch(4)
    assert (apply_params(x, _identity(4)) - x.float()).abs().max() < 1e-2
    flipped = apply_params(x, _identity(4, flip=torch.ones(4, dtype=torch.bool)))
    assert (flipped - x.float().flip(3)).abs().max() < 1e-2
    turned = apply_params(x, _identity(4, angle=torch.full((4,), math.pi / 2, dtype=torch.float64)))
    assert min((turned - x.float().rot90(k, (2, 3))).abs().max() for k in (1, 3)) < 1e-2


def test_brightness_scales_and_clamps():
    x = torch.full((2, 3, 8, 8), 200, dtype=torch.uint8)
    out = apply_params(x, _identity(2, brightness=torch.tensor([0.5, 1.5], dtype=torch.float64)))
    assert out[0].mean().item() == pytest.approx(100.0, abs=1e-3)
    assert out[1].max().item() == 255.0


def test_parameters_are_drawn_per_sample_within_the_policy():
    p = draw_params(PAPER_POLICY, 512, torch.Generator().manual_seed(0))
    assert p.angle.abs().max() <= math.radians(30) and p.angle.std() > 0.2
    assert p.zoom_x.min() >= 0.7 and p.zoom_x.max() <= 1.5
    assert p.brightness.min() >= 0.5 and p.brightness.max() <= 1.1
    assert p.shift_x.abs().max() <= 0.2 and p.shear.abs().max() <= 0.15
    assert 0.4 < p.flip.float().mean() < 0.6
    assert not torch.equal(p.zoom_x, p.zoom_y)  # independent, as Keras


def test_same_image_augments_differently_across_a_batch():
    one = _batch(1)
    batch = one.repeat(8, 1, 1, 1)
    out = Augmenter(seed=3)(batch)
    distinct = {tuple(out[i].flatten()[:200].round().tolist()) for i in range(8)}
    assert len(distinct) == 8


def test_seed_fixes_the_sequence_and_state_restores_it():
    x = _batch()
    a, b = Augmenter(seed=1), Augmenter(seed=1)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), Augmenter(seed=2)(x))
    state = a.state_dict()
    first = a(x)
    a.load_state_dict(state)
    assert torch.equal(a(x), first)


def test_offline_copies_are_fixed_by_the_seed():
    x = _batch(3)
    images, source = offline_copies(x, copies=4, seed=5, chunk=2)
    again, _ = offline_copies(x, copies=4, seed=5, chunk=2)
    assert images.shape == (12, 3, 24, 24) and images.dtype == torch.uint8
    assert source.tolist() == [0, 1, 2] * 4
    assert torch.equal(images, again)
    assert not torch.equal(images[0], images[3])  # two copies of face 0 differ


def test_cached_sampling_grid_equals_affine_grid():
    p = draw_params(PAPER_POLICY, 5, torch.Generator().manual_seed(4))
    theta = affine_matrices(p, 20, 28)
    expected = F.affine_grid(theta, [5, 3, 20, 28], align_corners=False)
    assert torch.allclose(sampling_grid(theta, 20, 28), expected, atol=1e-5)


def test_epoch_batches_warp_in_chunks_exactly_like_whole_epoch():
    from neopain.train.loop import WARP_CHUNK, batch_starts, epoch_batches

    n, batch = WARP_CHUNK + 37, 16
    images = torch.randint(0, 256, (n, 3, 24, 24), dtype=torch.uint8)
    plan = Augmenter(seed=3).plan(n, 24, 24, "cpu")
    starts = batch_starts(n, batch)
    got = torch.cat(list(epoch_batches(images, starts, batch, plan)))
    assert torch.allclose(got, plan.apply(images)[: got.shape[0]], atol=1e-4)
    assert got.shape[0] == n  # 165 = 10 x 16 + 5: no batch of one is dropped here
