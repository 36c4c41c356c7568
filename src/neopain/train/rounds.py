"""A fixed number of epochs from given weights: one site's share of a federated round, or a fixed-budget
baseline (central on pooled faces, one site alone). The same training step as ``train`` (loss, augmentation,
optimiser), with FedProx's proximal term as an optional penalty; no validation split, no plateau."""

from __future__ import annotations

from collections.abc import Callable

import torch

from neopain.models import PainNet
from neopain.train.data import FaceSet
from neopain.train.loop import EpochStats, make_optimizer, make_runtime, set_phase, train_epoch, training_set
from neopain.train.trainer import TrainConfig


def proximal_term(model: PainNet, anchor: dict[str, torch.Tensor], mu: float) -> Callable[[], torch.Tensor]:
    """FedProx (Li et al. 2020): mu/2 times the squared distance of the trainable weights from the round's
    global weights, which keeps a site's local epochs from drifting far on its own (non-IID) faces."""
    pairs = [(p, anchor[name].to(p.device)) for name, p in model.named_parameters() if p.requires_grad]

    def penalty() -> torch.Tensor:
        return 0.5 * mu * sum(((p - a) ** 2).sum() for p, a in pairs)

    return penalty


def train_epochs(
    model: PainNet,
    faces: FaceSet,
    config: TrainConfig,
    epochs: int,
    seed: int,
    proximal_mu: float = 0.0,
    threads: int | None = None,
) -> list[EpochStats]:
    """Train ``model`` in place for ``epochs`` epochs on ``faces`` (CPU or ``config.device``); a fresh
    optimiser, shuffle and augmenter seeded from ``seed`` (a site and round each give their own)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if threads:
        torch.set_num_threads(threads)
    runtime = make_runtime(config.device, config.amp, config.deterministic)
    torch.manual_seed(seed)
    train_set, augmenter = training_set(faces, config.augment, config.copies, seed)
    shuffle = torch.Generator().manual_seed(seed + 1)
    model = runtime.prepare_model(model)
    set_phase(model, 1, config.finetune)
    anchor = {k: v.detach().clone() for k, v in model.state_dict().items()}
    penalty = proximal_term(model, anchor, proximal_mu) if proximal_mu > 0 else None
    optimizer = make_optimizer(model, config.lr_head)
    stats = [train_epoch(model, train_set, optimizer, runtime, config.batch_size, shuffle, augmenter,
                         penalty=penalty) for _ in range(epochs)]
    model.cpu().eval()
    return stats
