"""Explain one saved record in its own process: ``python -m neopain.explain.worker CHECKPOINT IMAGE OUT.png``.

The bedside server never imports torch; it calls ``neopain.explain.service.explain_record``, which runs
this module with a timeout. Here: detect and crop the face like training (or take the image as a crop
with ``--crop``), Integrated Gradients (black baseline, completeness-checked), write one PNG (the face,
the map with the NFCS regions outlined, the class and probability) and print one JSON object on stdout:
predicted class, probability, completeness gap, steps and the region shares. Exit status 2 with a
one-line message on stderr when the input cannot be explained (no face, bad checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_USER_ERROR = 2


def explain_record(
    checkpoint_path: str | Path,
    image_path: str | Path,
    out_png: str | Path,
    detector: str = "yunet",
    baseline: str = "black",
    steps: int = 50,
    crop: bool = False,
    margin: float | None = None,
) -> dict[str, Any]:
    """Explain one image in this process (imports torch); returns the JSON-ready result."""
    import cv2
    import numpy as np
    import torch

    from neopain.explain.ig import IGSettings, explain_crops
    from neopain.explain.inputs import Item, Missed, iter_items
    from neopain.explain.render import blend_heatmap, heatmap, outline_regions, side_by_side, write_png
    from neopain.explain.run import score_item
    from neopain.train import crop_for, load_checkpoint

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    model, cfg, ckpt = load_checkpoint(checkpoint_path)
    settings = crop_for(ckpt, cfg.input_size, margin)
    item = next(iter_items([image_path], cfg.input_size, "box" if crop else detector, settings))
    if not isinstance(item, Item):
        assert isinstance(item, Missed)
        raise ValueError(f"{image_path}: {item.reason}")  # noqa: TRY004  (a user error, not a type error)
    attr = explain_crops(model, cfg, [item.crop], IGSettings(baseline=baseline, n_steps=steps))[0]
    scores, polygons = score_item(item, attr)
    side = max(224, cfg.input_size)
    overlay = blend_heatmap(attr.crop, heatmap(attr.positive))
    big = cv2.resize(overlay, (side, side), interpolation=cv2.INTER_LINEAR)
    outlined = outline_regions(big, polygons or {}, side / overlay.shape[0])
    predicted = cfg.labels[attr.predicted]
    tile = side_by_side(attr.crop, outlined, [f"{predicted} {100 * attr.probability:.1f}%"], side=side)
    write_png(Path(out_png), tile)
    clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in scores.items()}
    return {
        "predicted": predicted,
        "probability": attr.probability,
        "output": attr.output,
        "baseline": baseline,
        "gap": attr.gap,
        "steps": attr.steps,
        "converged": attr.converged,
        "png": str(out_png),
        **clean,
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m neopain.explain.worker", description=__doc__.splitlines()[0]
    )
    parser.add_argument("checkpoint")
    parser.add_argument("image")
    parser.add_argument("out_png")
    parser.add_argument("--detector", default="yunet")
    parser.add_argument("--baseline", default="black", choices=("black", "blur", "noise"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--crop", action="store_true", help="the image is already a face crop")
    parser.add_argument("--margin", type=float, default=None, help="default: the checkpoint's training crop")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from neopain.core.weights import WeightsError
    from neopain.explain.inputs import InputError
    from neopain.pixels.imageio import ImageError
    from neopain.train import CheckpointError

    try:
        result = explain_record(
            args.checkpoint,
            args.image,
            args.out_png,
            args.detector,
            args.baseline,
            args.steps,
            args.crop,
            args.margin,
        )
    except (CheckpointError, InputError, ImageError, WeightsError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
