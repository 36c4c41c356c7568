"""Training throughput: the real trainer's epoch loop (augmentation on) vs a bare loop on the same model.

Prints JSON. The trainer side runs ``neopain.train.loop.train_epoch`` over a device-resident uint8 face
set with the online augmenter (per-sample affine warp + brightness), normalisation, bf16 autocast and
channels_last on CUDA, CE + head L1, RMSprop. The bare side feeds one pre-normalised synthetic batch
through the same model, loss and optimizer. Both train the same parameters (``--phase``).

    PYTHONPATH=src python bench/train_throughput.py --model vggface16 --batch-size 16 --pretrained false
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from neopain.models import PainNet, create_model
from neopain.pixels.augment import Augmenter
from neopain.train.data import FaceSet
from neopain.train.loop import Runtime, make_optimizer, make_runtime, train_epoch, train_step


def set_trainable(model: PainNet, phase: str) -> None:
    if phase == "1":
        model.freeze_backbone()
    elif phase == "2":
        model.unfreeze_finetune_stages()
    elif phase == "late":
        model.freeze_early_stages()
    else:
        model.requires_grad_(True)


def bare_loop(model: PainNet, runtime: Runtime, batch_size: int, steps: int, warmup: int) -> float:
    """Images/s of the plainest training loop: one fixed, already-normalised batch, no augmentation."""
    size = model.cfg.input_size
    x = runtime.prepare_input(torch.randn(batch_size, 3, size, size, device=runtime.device) * 50)
    y = torch.randint(0, 2, (batch_size,), device=runtime.device)
    optimizer = make_optimizer(model, 1e-6)
    model.train()

    def step() -> None:
        train_step(model, x, y, optimizer, runtime)

    for _ in range(warmup):
        step()
    _sync(runtime)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(runtime)
    return batch_size * steps / (time.perf_counter() - started)


def trainer_loop(model: PainNet, runtime: Runtime, batch_size: int, steps: int, warmup: int, faces: int) -> float:
    """Images/s of the trainer's epoch function with online augmentation, over ``steps`` batches."""
    size = model.cfg.input_size
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (faces, 3, size, size), dtype=torch.uint8, generator=gen).to(runtime.device)
    data = FaceSet(images, torch.randint(0, 2, (faces,), generator=gen).to(runtime.device), ["s"] * faces)
    optimizer = make_optimizer(model, 1e-6)
    augmenter = Augmenter(seed=0)
    shuffle = torch.Generator().manual_seed(1)
    # An epoch of `steps` batches: repeat the face set as the offline copies would.
    repeats = max(1, -(-steps * batch_size // faces))
    epoch = FaceSet(data.images.repeat(repeats, 1, 1, 1)[: steps * batch_size],
                    data.targets.repeat(repeats)[: steps * batch_size], ["s"] * (steps * batch_size))
    warm = FaceSet(epoch.images[: warmup * batch_size], epoch.targets[: warmup * batch_size], ["s"])
    train_epoch(model, warm, optimizer, runtime, batch_size, shuffle, augmenter)
    stats = train_epoch(model, epoch, optimizer, runtime, batch_size, shuffle, augmenter)
    return stats.images / stats.seconds


def _sync(runtime: Runtime) -> None:
    if runtime.device.type == "cuda":
        torch.cuda.synchronize(runtime.device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vggface16")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--phase", choices=("1", "2", "all", "late"), default="2",
                        help="which parameters train: 1 head, 2 head + last stages, all everything")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; medians reported")
    parser.add_argument("--faces", type=int, default=300, help="distinct synthetic faces held on the device")
    parser.add_argument("--pretrained", type=lambda v: v.lower() in ("1", "true", "yes"), default=False)
    args = parser.parse_args()

    runtime = make_runtime(args.device)
    # Alternate the two sides and keep medians: one short run of each is noisy on a shared host.
    samples: dict[str, list[float]] = {"bare": [], "trainer": []}
    for _ in range(args.repeats):
        for kind in ("bare", "trainer"):
            torch.manual_seed(0)
            model = create_model(args.model, pretrained=args.pretrained, input_size=args.input_size)
            set_trainable(model, args.phase)
            model = runtime.prepare_model(model)
            if kind == "bare":
                samples[kind].append(bare_loop(model, runtime, args.batch_size, args.steps, args.warmup))
            else:
                samples[kind].append(trainer_loop(model, runtime, args.batch_size, args.steps, args.warmup, args.faces))
            del model
    results = {kind: statistics.median(values) for kind, values in samples.items()}
    device_name = torch.cuda.get_device_name(runtime.device) if runtime.device.type == "cuda" else "cpu"
    print(json.dumps({
        "model": args.model, "batch_size": args.batch_size, "phase": args.phase, "steps": args.steps,
        "device": device_name, "amp_bf16": runtime.amp, "channels_last": runtime.channels_last,
        "bare_images_per_s": round(results["bare"], 1), "trainer_images_per_s": round(results["trainer"], 1),
        "trainer_over_bare": round(results["trainer"] / results["bare"], 3),
        "runs": {kind: [round(v, 1) for v in values] for kind, values in samples.items()},
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
