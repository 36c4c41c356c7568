"""One training epoch and one evaluation pass, fed from a device-resident face tensor (no loader)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from neopain.models import PainNet, channel_affine, normalize_bgr, normalize_model_order
from neopain.pixels.augment import Augmenter, AugmentPlan, offline_copies
from neopain.train.data import FaceSet
from neopain.train.prior import RegionPrior, region_penalty


@dataclass(frozen=True)
class Runtime:
    """Where and how the arithmetic runs: CUDA gets bf16 autocast, both channels_last (on this 2-core CPU
    MobileNetV2 trains about 10 % faster in it: bench/train_throughput.py)."""

    device: torch.device
    amp: bool
    channels_last: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare_model(self, model: PainNet) -> PainNet:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' asked for but CUDA is not available")
    return device


def make_runtime(device_name: str = "auto", amp: bool = True, deterministic: bool = False) -> Runtime:
    device = pick_device(device_name)
    cuda = device.type == "cuda"
    set_determinism(deterministic, cuda)
    return Runtime(device=device, amp=amp and cuda, channels_last=True)


def set_determinism(deterministic: bool, cuda: bool) -> None:
    """Deterministic kernels when asked (slower); otherwise let cuDNN pick the fastest ones."""
    if deterministic:
        # cuBLAS needs this set before its first use to be reproducible.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # Process-wide: set both ways so one deterministic run does not slow every later one.
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if cuda:
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic


def make_optimizer(model: PainNet, lr: float) -> torch.optim.Optimizer:
    """RMSprop over the trainable parameters, with Keras' defaults (rho 0.9, epsilon 1e-7) as the paper."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)


# The count output is in actions (0-10); scaled so its loss weighs about as much as one action's.
COUNT_LOSS_SCALE = 0.1


def nfcs_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each coded action's mean BCE, summed over actions (every action weighs as much as the pain head's
    cross-entropy), plus the scaled smooth-L1 of the count where the score is known. Unknown entries
    (NaN) add nothing, so a row without NFCS labels trains pain alone."""
    count, score = outputs[:, -1].float(), targets[:, -1]
    scored = ~torch.isnan(score)
    zero = outputs.sum() * 0.0  # keeps the graph (and the device) when a batch codes nothing
    count_loss = F.smooth_l1_loss(count[scored], score[scored]) * COUNT_LOSS_SCALE if scored.any() else zero
    return masked_bce(outputs[:, :-1], targets[:, :-1]) + count_loss


def masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each column's mean BCE over its known (not NaN) rows, summed over columns; 0 (in the graph) when
    nothing is known."""
    known = ~torch.isnan(labels)
    if not known.any():
        return logits.sum() * 0.0
    per_entry = F.binary_cross_entropy_with_logits(logits.float(), torch.nan_to_num(labels), reduction="none")
    coded = known.sum(0)
    return ((per_entry * known).sum(0)[coded > 0] / coded[coded > 0]).sum()


def train_step(
    model: PainNet,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    prior: RegionPrior | None = None,
    nfcs: torch.Tensor | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
    visible: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a normalised batch: CE + the head's L1 (+ the region prior, + the NFCS
    loss when ``nfcs`` targets are given, + the regions' visibility BCE when ``visible`` targets are,
    + ``penalty()``, e.g. FedProx's proximal term); (loss, logits)."""
    with runtime.autocast():
        logits, outputs, shows = model.forward_heads(x)
    loss = F.cross_entropy(logits.float(), y) + model.head_l1_penalty()
    if nfcs is not None and outputs is not None:
        loss = loss + nfcs_loss(outputs, nfcs)
    if visible is not None and shows is not None:
        loss = loss + masked_bce(shows, visible)
    if prior is not None:
        loss = loss + region_penalty(model, x, prior, runtime.autocast)
    if penalty is not None:
        loss = loss + penalty()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


# Images warped per grid_sample call: large enough that small batches do not each pay the launches,
# small enough that the float copy stays bounded whatever the dataset size.
WARP_CHUNK = 128


def epoch_batches(
    images: torch.Tensor, starts: list[int], batch_size: int, plan: AugmentPlan | None
) -> Iterator[torch.Tensor]:
    """The epoch's batches in order; with a plan, warped a chunk of about WARP_CHUNK images at a time."""
    return _chunked(images, starts, batch_size, None if plan is None else plan.apply)


def region_batches(
    regions: torch.Tensor, starts: list[int], batch_size: int, plan: AugmentPlan | None
) -> Iterator[torch.Tensor]:
    """The region masks of ``epoch_batches``' batches, moved by the same warps (no brightness), as 0/1 floats."""
    if plan is None:
        return (r.float() for r in _chunked(regions, starts, batch_size, None))
    return _chunked(regions, starts, batch_size, lambda r, lo: (plan.warp(r, lo) >= 0.5).float())


def _chunked(
    data: torch.Tensor,
    starts: list[int],
    batch_size: int,
    warp: Callable[[torch.Tensor, int], torch.Tensor] | None,
) -> Iterator[torch.Tensor]:
    per_chunk = max(1, WARP_CHUNK // batch_size)
    for first in range(0, len(starts), per_chunk):
        block = starts[first : first + per_chunk]
        lo, hi = block[0], min(block[-1] + batch_size, data.shape[0])
        warped = warp(data[lo:hi], lo) if warp is not None else data[lo:hi]
        for start in block:
            yield warped[start - lo : start - lo + batch_size]


def batch_starts(n: int, batch_size: int) -> list[int]:
    """Batch start offsets; a last batch of one image is dropped (BatchNorm cannot train on it)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
    return starts


@dataclass
class EpochStats:
    loss: float
    accuracy: float
    images: int
    seconds: float


def train_epoch(
    model: PainNet,
    data: FaceSet,
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    batch_size: int,
    shuffle: torch.Generator,
    augmenter: Augmenter | None = None,
    region_weight: float = 0.0,
    penalty: Callable[[], torch.Tensor] | None = None,
) -> EpochStats:
    """One pass over ``data`` in a seeded random order; loss = cross-entropy + the head's L1 penalty
    (+ ``region_weight`` times the share of the decision's attribution outside ``data.regions``; train/prior.py)
    (+ the NFCS loss when the model has action outputs and ``data.nfcs`` holds their targets).

    Per-epoch work (shuffle, channel order, augmentation parameters) is done once up front and the warp
    runs on chunks of several batches, so most steps launch only one fused normalisation and the model.
    """
    started = time.perf_counter()
    model.train()
    n = len(data)
    order = torch.randperm(n, generator=shuffle).to(runtime.device, non_blocking=True)
    images, targets = data.images.index_select(0, order), data.targets.index_select(0, order)
    nfcs = None if data.nfcs is None or model.nfcs_head is None else data.nfcs.index_select(0, order)
    visible = None if data.visible is None or model.visible_head is None else data.visible.index_select(0, order)
    if model.cfg.channel_order == "RGB":
        images = images.flip(1)  # faces are stored BGR; flip once per epoch, not per step
    size = images.shape[-1]
    plan = augmenter.plan(n, size, size, runtime.device) if augmenter is not None else None
    scale, shift = channel_affine(model.cfg, runtime.device)
    starts = batch_starts(n, batch_size)
    # Per-step results stay on the device: no host sync inside the loop.
    losses = torch.zeros(len(starts), device=runtime.device)
    logits_seen = torch.zeros((n, len(model.cfg.labels)), device=runtime.device)
    regions = _epoch_regions(data, order, starts, batch_size, plan) if region_weight > 0 else None
    seen = 0
    for step, (start, x) in enumerate(zip(starts, epoch_batches(images, starts, batch_size, plan))):
        y = targets[start : start + batch_size]
        x = normalize_model_order(x, scale, shift, runtime.channels_last)
        prior = None if regions is None else RegionPrior(next(regions), region_weight)
        batch_nfcs = None if nfcs is None else nfcs[start : start + batch_size]
        batch_visible = None if visible is None else visible[start : start + batch_size]
        losses[step], logits_seen[start : start + y.shape[0]] = train_step(
            model, x, y, optimizer, runtime, prior, batch_nfcs, penalty, batch_visible)
        seen = start + int(y.shape[0])
    sizes = torch.tensor([min(batch_size, n - s) for s in starts], dtype=torch.float32, device=runtime.device)
    loss_sum = (losses * sizes).sum().item()
    correct = (logits_seen[:seen].argmax(1) == targets[:seen]).sum().item()
    if runtime.device.type == "cuda":
        torch.cuda.synchronize(runtime.device)
    seconds = time.perf_counter() - started
    return EpochStats(loss_sum / max(seen, 1), correct / max(seen, 1), seen, seconds)


def _epoch_regions(
    data: FaceSet, order: torch.Tensor, starts: list[int], batch_size: int, plan: AugmentPlan | None
) -> Iterator[torch.Tensor]:
    if data.regions is None:
        raise ValueError("the region prior needs region masks, and these training faces carry none")
    return region_batches(data.regions.index_select(0, order), starts, batch_size, plan)


@dataclass
class EvalStats:
    loss: float  # cross-entropy + L1, as Keras reports val_loss
    cross_entropy: float
    accuracy: float
    nfcs: float = 0.0  # the NFCS loss on these faces (0 for a pain-only model): joins the monitored value
    auc: float | None = None  # mean ROC AUC over P(pain) and each coded action (None: no class has both labels)
    visible: float = 0.0  # the regions' visibility BCE (0 without the output): joins it too


@torch.no_grad()
def evaluate(model: PainNet, data: FaceSet, runtime: Runtime, batch_size: int = 64) -> EvalStats:
    model.eval()
    ce_sum = torch.zeros((), device=runtime.device)
    correct = torch.zeros((), device=runtime.device, dtype=torch.long)
    outputs_seen, pain_seen, shows_seen = [], [], []
    for start in range(0, len(data), batch_size):
        x = data.images[start : start + batch_size]
        y = data.targets[start : start + batch_size]
        with runtime.autocast():
            logits, outputs, shows = model.forward_heads(normalize_bgr(x, model.cfg, runtime.channels_last))
        ce_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        pain_seen.append((logits[:, 1] - logits[:, 0]).float())
        if outputs is not None:
            outputs_seen.append(outputs.float())
        if shows is not None:
            shows_seen.append(shows.float())
    n = max(len(data), 1)
    ce = ce_sum.item() / n
    nfcs = 0.0
    aucs = [rank_auc(torch.cat(pain_seen), data.targets.float())] if pain_seen else []
    if outputs_seen and data.nfcs is not None:
        outputs = torch.cat(outputs_seen)
        nfcs = float(nfcs_loss(outputs, data.nfcs))  # over the whole set, as the labels are sparse
        aucs += [rank_auc(outputs[:, j], data.nfcs[:, j]) for j in range(outputs.shape[1] - 1)]
    known = [a for a in aucs if a is not None]
    auc = sum(known) / len(known) if known else None
    visible = float(masked_bce(torch.cat(shows_seen), data.visible)) if shows_seen and data.visible is not None else 0.0
    return EvalStats(ce + float(model.head_l1_penalty()), ce, correct.item() / n, nfcs, auc, visible)


def rank_auc(scores: torch.Tensor, labels: torch.Tensor) -> float | None:
    """ROC AUC (Mann-Whitney, ties halved) over the rows whose label is known; None without both classes."""
    known = ~torch.isnan(labels)
    s, y = scores[known].double().cpu(), labels[known].cpu() > 0.5
    positives, negatives = s[y], s[~y]
    if not len(positives) or not len(negatives):
        return None
    diff = positives[:, None] - negatives[None, :]
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


@torch.no_grad()
def predict_proba(model: PainNet, images_bgr: torch.Tensor, runtime: Runtime, batch_size: int = 64) -> torch.Tensor:
    """Softmax probabilities (N x 2, CPU float32) for uint8 BGR N x 3 x S x S faces."""
    model.eval()
    out = []
    for start in range(0, images_bgr.shape[0], batch_size):
        x = images_bgr[start : start + batch_size].to(runtime.device)
        with runtime.autocast():
            logits = model(normalize_bgr(x, model.cfg, runtime.channels_last))
        out.append(torch.softmax(logits.float(), 1).cpu())
    return torch.cat(out) if out else torch.zeros((0, 2))


@torch.no_grad()
def predict_nfcs(
    model: PainNet, images_bgr: torch.Tensor, runtime: Runtime, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """(P(action) N x A in ``model.cfg.actions`` order, the count output N), CPU float32, for an NFCS model."""
    if model.nfcs_head is None:
        raise ValueError(f"{model.cfg.name}: this model has no NFCS outputs (trained with targets pain)")
    model.eval()
    probabilities, counts = [], []
    for start in range(0, images_bgr.shape[0], batch_size):
        x = images_bgr[start : start + batch_size].to(runtime.device)
        with runtime.autocast():
            _, outputs = model.forward_all(normalize_bgr(x, model.cfg, runtime.channels_last))
        outputs = outputs.float().cpu()
        probabilities.append(torch.sigmoid(outputs[:, :-1]))
        counts.append(outputs[:, -1])
    actions = len(model.cfg.actions)
    if not probabilities:
        return torch.zeros((0, actions)), torch.zeros(0)
    return torch.cat(probabilities), torch.cat(counts)


def set_phase(model: PainNet, phase: int, finetune: str) -> None:
    """Which layers train in ``phase`` (1: the head; 2: the fine-tuned stages) under ``finetune``."""
    if finetune == "all":
        model.requires_grad_(True)
    elif finetune == "late":
        model.freeze_early_stages()
    elif phase == 1:
        model.freeze_backbone()
    else:
        model.unfreeze_finetune_stages()


def training_set(faces: FaceSet, augment: str, copies: int, seed: int) -> tuple[FaceSet, Augmenter | None]:
    """Offline: the fixed augmented copies; online: the faces plus a live augmenter; none: the faces."""
    if augment == "offline":
        images, source = offline_copies(faces.images, copies, seed=seed + 2)
        subjects = [faces.subjects[i] for i in source.tolist()]
        nfcs = None if faces.nfcs is None else faces.nfcs[source]
        visible = None if faces.visible is None else faces.visible[source]
        return FaceSet(images, faces.targets[source], subjects, nfcs=nfcs, visible=visible), None
    if augment == "online":
        return faces, Augmenter(seed=seed + 2)
    return faces, None
