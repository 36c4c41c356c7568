"""Region occlusion for NFCS training: per-region masks, the blurred copies (only their region changes, its
actions and the count become unknown, never absent), seeded; and training with it end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neopain.data import Sample, read_manifest, write_manifest
from neopain.pixels.imageio import write_image
from neopain.scales.nfcs import ACTION_REGION, ACTIONS, REGIONS, region_bit
from neopain.train import TrainConfig, load_checkpoint, train
from neopain.train.data import FaceSet
from neopain.train.occlusion import occluded_copies
from neopain.train.regions import region_masks, region_parts
from tests._train_helpers import make_faces

SIZE = 32


def banded_parts(n: int) -> np.ndarray:
    """Five horizontal bands, one per region, top to bottom (brow ... chin)."""
    parts = np.zeros((n, len(REGIONS), SIZE, SIZE), np.uint8)
    for r in range(len(REGIONS)):
        parts[:, r, 2 + 6 * r : 6 + 6 * r, 2:30] = 1
    return parts


def face_set(n: int = 12, labelled: int = 10) -> FaceSet:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 255, (n, 3, SIZE, SIZE), dtype=np.uint8))
    nfcs = torch.full((n, len(ACTIONS) + 1), float("nan"))
    nfcs[:labelled, :-1] = torch.from_numpy(rng.integers(0, 2, (labelled, len(ACTIONS)))).float()
    nfcs[:labelled, -1] = nfcs[:labelled, :-1].sum(1)
    return FaceSet(images, torch.arange(n) % 2, [f"S{i // 3}" for i in range(n)], nfcs=nfcs)


def test_true_masks_give_one_mask_per_region_and_their_union(tmp_path: Path) -> None:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[0:8] = region_bit("brow")
    mask[8:16] = region_bit("eyes")
    mask[20:28, 10:20] = region_bit("mouth")
    write_image(tmp_path / "f.png", np.full((SIZE, SIZE, 3), 100, np.uint8))
    write_image(tmp_path / "m.png", mask)
    samples = [Sample(path="f.png", subject="S0", dataset="synthetic", label="pain", mask_path="m.png")]
    manifest = write_manifest(samples, tmp_path / "faces.csv")
    samples = read_manifest(manifest)
    parts, source = region_parts(samples, manifest, 16)
    assert source == "mask" and parts.shape == (1, len(REGIONS), 16, 16)
    brow, eyes, mouth = (parts[0, REGIONS.index(r)] for r in ("brow", "eyes", "mouth"))
    assert brow[:4].all() and not brow[4:].any() and eyes[4:8].all() and not eyes[8:].any()
    assert mouth[10:14, 5:10].all() and not parts[0, REGIONS.index("chin")].any()
    union, _ = region_masks(samples, manifest, 16)
    assert np.array_equal(union[0], parts[0].any(0).astype(np.uint8))


def test_a_copy_changes_only_its_region_and_makes_its_actions_unknown() -> None:
    faces, parts = face_set(), banded_parts(12)
    enlarged, which = occluded_copies(faces, parts, 1.0, ACTIONS, seed=3)
    assert len(enlarged) == 12 + 10 and which[:, 0].tolist() == list(range(10))  # only labelled faces
    assert torch.equal(enlarged.images[:12], faces.images) and torch.equal(enlarged.targets[12:], faces.targets[:10])
    assert enlarged.subjects[12:] == faces.subjects[:10]  # a copy stays with its baby in every split
    for k, (i, region) in enumerate(which):
        before, after = faces.images[i].numpy(), enlarged.images[12 + k].numpy()
        changed = np.any(before != after, axis=0)
        near = np.zeros_like(changed)
        near[max(0, 2 + 6 * region - 3) : 6 + 6 * region + 3] = True  # the band and its feathered edge
        assert changed.any() and not (changed & ~near).any()
        copied = enlarged.nfcs[12 + k]
        for a, action in enumerate(ACTIONS):
            if ACTION_REGION[action] == REGIONS[region]:
                assert torch.isnan(copied[a])  # hidden: unknown, never "absent"
            else:
                assert copied[a] == faces.nfcs[i, a]
        assert torch.isnan(copied[-1])
    again, same = occluded_copies(faces, parts, 1.0, ACTIONS, seed=3)
    assert np.array_equal(which, same) and torch.equal(again.images, enlarged.images)
    assert not np.array_equal(which, occluded_copies(faces, parts, 1.0, ACTIONS, seed=4)[1])


def test_a_share_copies_that_share_and_regions_outside_the_crop_are_never_chosen() -> None:
    faces, parts = face_set(), banded_parts(12)
    parts[:, REGIONS.index("chin")] = 0  # the chin lies outside these crops
    enlarged, which = occluded_copies(faces, parts, 0.5, ACTIONS, seed=0)
    assert len(enlarged) == 12 + 5 and REGIONS.index("chin") not in which[:, 1]
    with pytest.raises(ValueError, match="needs NFCS targets"):
        occluded_copies(FaceSet(faces.images, faces.targets, faces.subjects), parts, 1.0, ACTIONS, seed=0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        occluded_copies(faces, parts, 1.5, ACTIONS, seed=0)


def test_training_with_region_occlusion_runs_and_is_recorded(tmp_path: Path) -> None:
    manifest, samples = make_faces(tmp_path / "faces", subjects=3, per_class=3, size=48)
    coded = [s.with_(actions={"open_lips": int(s.label == "pain")}, nfcs_score=None) for s in samples]
    write_manifest(coded, manifest)
    config = TrainConfig(epochs=1, batch_size=4, augment="none", pretrained=False, device="cpu",
                         targets=("pain", "nfcs"), input_size=48, region_occlusion=1.0)
    result = train(coded, manifest, "ncnn", tmp_path / "run", config)
    _, cfg, checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint["train_config"]["region_occlusion"] == 1.0 and cfg.actions == ACTIONS
    with pytest.raises(ValueError, match="needs --targets pain,nfcs"):
        TrainConfig(region_occlusion=0.5)
