"""Region prior sweep: for each prior weight, train, then score held-out babies for accuracy and for where
Integrated Gradients puts the evidence. Prints one JSON object per variant (and writes results.jsonl).

Each variant trains ``mobilenet_v2`` on TRAIN (the demo's recipe: online augmentation, every layer, all
faces), then on HELDOUT (other babies: a subject-independent hold-out) reports ROC AUC, accuracy,
sensitivity and specificity at 0.5, and on PAIN (held-out pain faces with true masks) the share of positive
attribution inside the true present-action regions (IG, blurred baseline, class pain, feature scale).

    PYTHONPATH=src python bench/region_prior.py faces/faces.csv ho/faces.csv ho/pain_eval.csv \\
        --variants 0:mask,1:mask,1:placed --epochs 40 --out runs/prior
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from neopain.data.manifest import binary_task, read_manifest
from neopain.explain.ig import IGSettings
from neopain.explain.run import RunOptions, run_explain
from neopain.train.loop import pick_device
from neopain.train.trainer import TrainConfig, predict_samples, train


def heldout_metrics(model, faces: Path, device: str) -> dict[str, float]:
    """AUC, accuracy, sensitivity and specificity at 0.5 on the held-out faces manifest."""
    from sklearn.metrics import roc_auc_score

    samples = binary_task(read_manifest(faces))
    proba = predict_samples(model, samples, faces, device=device)[:, 1].numpy()
    truth = np.array([s.target for s in samples])
    said = proba >= 0.5
    return {
        "heldout_images": len(samples),
        "auc": round(float(roc_auc_score(truth, proba)), 4),
        "accuracy": round(float((said == truth).mean()), 4),
        "sensitivity": round(float(said[truth == 1].mean()), 4),
        "specificity": round(float((~said[truth == 0]).mean()), 4),
    }


def region_share(checkpoint: Path, pain: Path, out: Path, device: str, limit: int | None) -> dict[str, float]:
    """Mean share of positive IG inside the true present-action regions, pain-labelled faces."""
    ig = IGSettings(baseline="blur", target="pain")
    options = RunOptions(ig=ig, detector="box", device=device, limit=limit, embed=False)
    summary = run_explain(checkpoint, [pain], out, options).summary
    entry = summary["by_label"]["pain"]
    return {
        "explained": summary["explained"],
        "true_present": entry["true_present_mean"],
        "true_present_area": entry["true_present_area_mean"],
        "placed_any": entry["share_any"],
        "mouth": entry["share_mouth"],
        "max_gap": summary["completeness"]["max_gap"],
    }


def run_variant(args: argparse.Namespace, weight: float, source: str) -> dict:
    name = f"w{weight:g}_{source}"
    out = args.out / name
    config = TrainConfig(
        epochs=args.epochs, input_size=args.input_size, augment="online", patience=8, monitor="ce",
        finetune="all", final=True, seed=args.seed, device=args.device,
        region_prior=weight, region_source=source,
    )
    samples = binary_task(read_manifest(args.train))
    started = time.perf_counter()
    result = train(samples, args.train, "mobilenet_v2", out / "train", config)
    seconds = time.perf_counter() - started
    row = {"variant": name, "weight": weight, "source": source, "epochs": len(result.history),
           "train_s": round(seconds, 1), "split": "subject-independent (held-out babies)"}
    row.update(heldout_metrics(result.model, args.heldout, args.device))
    row.update(region_share(result.checkpoint, args.pain, out / "explain", args.device, args.limit))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", type=Path, help="training faces manifest")
    parser.add_argument("heldout", type=Path, help="held-out faces manifest (other babies)")
    parser.add_argument("pain", type=Path, help="held-out pain faces with mask_path")
    parser.add_argument("--variants", default="0:mask,1:mask", help="weight:source,... (source auto|mask|placed)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--input-size", type=int, default=112)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, default=None, help="explain only the first N pain faces")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.device = str(pick_device(args.device))
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.variants.split(","):
        weight, _, source = spec.partition(":")
        row = run_variant(args, float(weight), source or "auto")
        print(json.dumps(row), flush=True)
        with (args.out / "results.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
