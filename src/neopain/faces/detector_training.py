"""Training a RetinaFace network on ``detector_tune``'s examples: the original training's loss (anchors matched
at IoU >= 0.35 and each face's best anchor, smooth L1 on the box and landmark offsets, cross-entropy on the
face / background scores with the hardest 7 negatives per positive), SGD with a one-cycle schedule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neopain.core.atomic import atomic_path
from neopain.faces.detector_tune import Example, TuneConfig, augmented, epoch_pool
from neopain.faces.priors import MEAN_BGR, VARIANCE, make_priors

MATCH_IOU = 0.35
NEGATIVES_PER_POSITIVE = 7
LOC_WEIGHT = 2.0
FACE_FREE_ANCHORS = 64  # the hardest background anchors learnt from a picture without a face


def batch_tensors(images: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """BGR images minus the network's means, (B, 3, S, S); targets (B, 14)."""
    array = (np.stack(images).astype(np.float32) - MEAN_BGR).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(array)), torch.from_numpy(np.stack(targets).astype(np.float32))


def _corners(priors: torch.Tensor) -> torch.Tensor:
    return torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], dim=1)


def _iou(boxes: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """IoU of corner boxes (N, 4) with one corner box (4,)."""
    top_left, bottom_right = torch.maximum(boxes[:, :2], box[:2]), torch.minimum(boxes[:, 2:], box[2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(dim=1)
    return inter / (area + (box[2:] - box[:2]).prod() - inter)


def match(priors: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For one face: (positive anchors (N,) bool, box offsets (N, 4), landmark offsets (N, 10)) to learn."""
    if torch.isnan(target).any():  # a picture without a face: every anchor is background
        none = torch.zeros(len(priors), dtype=torch.bool)
        return none, torch.zeros(len(priors), 4), torch.zeros(len(priors), 10)
    box, points = target[:4], target[4:].reshape(5, 2)
    overlap = _iou(_corners(priors), box)
    positive = overlap >= MATCH_IOU
    positive[overlap.argmax()] = True
    centre, sides = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).clamp(min=1e-6)
    loc = torch.cat([(centre - priors[:, :2]) / (VARIANCE[0] * priors[:, 2:]),
                     torch.log(sides / priors[:, 2:]) / VARIANCE[1]], dim=1)
    landms = ((points[None] - priors[:, None, :2]) / (VARIANCE[0] * priors[:, None, 2:])).reshape(-1, 10)
    return positive, loc, landms


def multibox_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], targets: torch.Tensor, priors: torch.Tensor
) -> torch.Tensor:
    """The original RetinaFace loss, one face or none per image: box, landmarks, and hard-mined scores."""
    loc, logits, landms = outputs
    matched = [match(priors, t) for t in targets]
    positive = torch.stack([m[0] for m in matched])
    loc_target, landm_target = torch.stack([m[1] for m in matched]), torch.stack([m[2] for m in matched])
    # A face-free picture's mined anchors weigh as a face's would (64 negatives ~ 9 positives' worth), so a
    # batch drawn all from face-free pictures is not divided by a lone 1.
    face_free = sum(1 for row in positive if not row.any())
    n_pos = positive.sum() + face_free * FACE_FREE_ANCHORS / NEGATIVES_PER_POSITIVE
    loss_loc = F.smooth_l1_loss(loc[positive], loc_target[positive], reduction="sum")
    loss_landm = F.smooth_l1_loss(landms[positive], landm_target[positive], reduction="sum")
    scores = F.cross_entropy(logits.reshape(-1, 2), positive.reshape(-1).long(), reduction="none").view_as(positive)
    mined = scores.detach().masked_fill(positive, 0.0)
    keep = positive.clone()
    for row in range(len(targets)):
        found = int(positive[row].sum())
        wanted = min(found * NEGATIVES_PER_POSITIVE if found else FACE_FREE_ANCHORS, mined.shape[1] - 1)
        keep[row, mined[row].topk(wanted).indices] = True
    return (LOC_WEIGHT * loss_loc + scores[keep].sum() + loss_landm) / n_pos


def _frozen_norms(net: torch.nn.Module) -> None:
    """Batch-norm statistics stay the pretrained ones (a ward's few hundred pictures would shift them)."""
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def tune(
    net: torch.nn.Module,
    examples: Sequence[Example],
    config: TuneConfig,
    progress: Callable[[int, float], None] | None = None,
    negatives: Sequence[Example] = (),
) -> list[float]:
    """Fine-tune ``net`` in place on ``examples`` and face-free ``negatives``; the mean loss of each epoch."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    priors = torch.from_numpy(np.array(make_priors(config.size, config.size)))
    optimiser = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, weight_decay=5e-4)
    pictures = [*examples, *negatives]
    pool = epoch_pool(len(examples), len(negatives), config.negative_share)
    steps = config.epochs * math.ceil(len(pool) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=steps, pct_start=0.1)
    losses: list[float] = []
    for epoch in range(config.epochs):
        net.train()
        _frozen_norms(net)
        order, total = rng.permutation(pool), 0.0
        for start in range(0, len(order), config.batch_size):
            drawn = [augmented(pictures[i], config, rng) for i in order[start : start + config.batch_size]]
            images, targets = batch_tensors([d[0] for d in drawn], [d[1] for d in drawn])
            loss = multibox_loss(net.heads(images), targets, priors)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(drawn)
        losses.append(total / len(pool))
        if progress is not None:
            progress(epoch + 1, losses[-1])
    return losses


def save_tuned(net: torch.nn.Module, config: TuneConfig, manifest: Path, out: Path) -> Path:
    """The checkpoint (``load_retinaface`` reads it) beside the ONNX file the bedside serves."""
    out.mkdir(parents=True, exist_ok=True)
    record = {"tuned_on": str(manifest), **asdict(config)}
    with atomic_path(out / "detector.pth") as checkpoint:
        torch.save({"state_dict": net.state_dict(), "neopain": record}, checkpoint)
    from neopain.faces.retinaface import export_net_onnx

    metadata = {f"neopain.detector.{key}": str(value) for key, value in record.items()}
    return export_net_onnx(net.eval(), out / "detector.onnx", metadata)
