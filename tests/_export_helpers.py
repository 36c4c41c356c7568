"""Tiny trained classifiers saved as real training checkpoints, for the export and inference tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

from tests._train_helpers import draw_face


def cue_crops(count: int, size: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Alternating pain / no_pain cue images (``draw_face``) and their 0/1 targets."""
    rng = np.random.default_rng(seed)
    labels = ["pain" if i % 2 else "no_pain" for i in range(count)]
    return [draw_face(label, rng, size) for label in labels], np.array([int(l == "pain") for l in labels])


def make_checkpoint(folder: Path, name: str = "ncnn", input_size: int = 64, seed: int = 0,
                    steps: int = 30, extra: dict | None = None) -> Path:
    """Build ``name`` with random weights, train it for a few steps on the cue images (so the logits mean
    something), save it with the training code's ``save_checkpoint``. N-CNN by default: it has no
    BatchNorm, so a few steps give an eval-mode model that separates the cues; ``steps=0`` for parity
    tests of other architectures."""
    import torch

    from neopain.models import create_model
    from neopain.pixels.preprocess import HeadConfig, preprocess_batch
    from neopain.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    model = create_model(name, pretrained=False, input_size=input_size, head=HeadConfig(units=(32,), dropout=0.0))
    crops, targets = cue_crops(48, input_size, seed)
    x = torch.from_numpy(preprocess_batch(crops, model.cfg))
    y = torch.from_numpy(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    model.eval()
    checkpoint = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": model.cfg.to_dict(), "optimizer": optimizer.state_dict(), "epoch": 1, "phase": 1,
        "history": [], "manifest_hash": "test", "seed": seed, **(extra or {}),
    }
    return save_checkpoint(folder / "best.pt", checkpoint)


def astronaut_bgr() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def on_canvas(image: np.ndarray, width: int = 640, height: int = 480, scale: float = 1.0,
              offset: tuple[int, int] = (64, 0), fill: int = 128) -> np.ndarray:
    """``image`` resized by ``scale`` and placed at ``offset`` on a grey width x height frame."""
    frame = np.full((height, width, 3), fill, np.uint8)
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = min(image.shape[0], height - offset[1]), min(image.shape[1], width - offset[0])
    frame[offset[1] : offset[1] + h, offset[0] : offset[0] + w] = image[:h, :w]
    return frame


TAUGHT = "brow_bulge"  # the one action the cue faces code for NFCS models: present exactly on the pain faces


def nfcs_model(steps: int = 40, seed: int = 0):  # type: ignore[no-untyped-def]
    """A tiny N-CNN with NFCS outputs, trained on cue faces where only TAUGHT is coded (= pain)."""
    import torch

    from neopain.models import create_model
    from neopain.pixels.preprocess import HeadConfig, preprocess_batch
    from neopain.scales.nfcs import ACTIONS
    from neopain.train.loop import make_optimizer, make_runtime, train_step

    torch.manual_seed(seed)
    model = create_model("ncnn", pretrained=False, input_size=64, head=HeadConfig(units=(32,), dropout=0.0))
    model.add_nfcs_head(ACTIONS, "nfcs-10")
    crops, targets = cue_crops(48, 64, seed)
    x = torch.from_numpy(preprocess_batch(crops, model.cfg))
    nfcs = torch.full((len(targets), len(ACTIONS) + 1), float("nan"))
    nfcs[:, ACTIONS.index(TAUGHT)] = torch.from_numpy(targets).float()  # the rest unknown
    runtime, optimizer = make_runtime("cpu"), make_optimizer(model, 1e-3)
    model.train()
    for _ in range(steps):
        train_step(model, x, torch.from_numpy(targets), optimizer, runtime, nfcs=nfcs)
    return model.eval()


def nfcs_checkpoint(folder: Path, steps: int = 40):  # type: ignore[no-untyped-def]
    """(best.pt of ``nfcs_model`` saved by the training code, the model)."""
    from neopain.train.checkpoint import save_checkpoint

    model = nfcs_model(steps)
    checkpoint = save_checkpoint(folder / "best.pt", {
        "model": model.state_dict(), "config": model.cfg.to_dict(), "optimizer": {}, "epoch": 1, "phase": 1,
        "history": [], "manifest_hash": "test", "seed": 0})
    return checkpoint, model
