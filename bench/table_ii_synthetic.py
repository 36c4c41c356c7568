"""Table II on the synthetic benchmark: train a small classifier, export it, quantise it, compare.

Synthesise subjects, cut faces with their known boxes, hold out whole subjects for the test, train
MobileNetV2 (ImageNet backbone; phase 1 by default) on the rest, then run
``neopain export --int8 static --calibration TRAIN --table-ii TEST``: float vs the three int8 variants
on the same test crops. CPU-sized by default (small input, few epochs): the point is the change int8
makes, not the best accuracy.

    PYTHONPATH=src python bench/table_ii_synthetic.py --out runs/table_ii_synthetic
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from neopain.data.manifest import binary_task, read_manifest, write_manifest
from neopain.data.synthetic import synthesize
from neopain.faces.crop import CropSettings
from neopain.faces.extract import extract_faces


def subject_split(samples, test_fraction: float, seed: int):
    subjects = sorted({s.subject for s in samples})
    rng = np.random.default_rng(seed)
    test = set(rng.choice(subjects, size=max(2, round(len(subjects) * test_fraction)), replace=False).tolist())
    return [s for s in samples if s.subject not in test], [s for s in samples if s.subject in test]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--subjects", type=int, default=30)
    parser.add_argument("--images-per-subject", type=int, default=12)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from typer.testing import CliRunner

    import neopain.cli.export  # noqa: F401
    from neopain.cli.apps import app
    from neopain.train.trainer import TrainConfig, train

    manifest = synthesize(args.out / "synthetic", args.subjects, args.images_per_subject, seed=args.seed)
    summary = extract_faces(manifest, args.out / "faces", detector="box", settings=CropSettings(size=112),
                            cache_dir=args.out / "cache")
    faces_csv = summary.faces_manifest
    samples = binary_task(read_manifest(faces_csv))
    train_rows, test_rows = subject_split(samples, args.test_fraction, args.seed)
    # Both manifests sit beside faces.csv so their relative crop paths still resolve.
    train_csv = write_manifest(train_rows, faces_csv.parent / "train_faces.csv")
    test_csv = write_manifest(test_rows, faces_csv.parent / "test_faces.csv")
    config = TrainConfig(epochs=args.epochs, input_size=args.input_size, augment="none", device="cpu",
                         seed=args.seed, amp=False)
    result = train(train_rows, train_csv, args.model, args.out / "run", config)
    model = args.out / "model.onnx"
    done = CliRunner().invoke(app, ["export", str(result.checkpoint), "--out", str(model), "--int8", "static",
                                    "--calibration", str(train_csv), "--table-ii", str(test_csv)])
    print(done.output)
    if done.exit_code != 0:
        raise SystemExit(done.exit_code)
    table = json.loads(model.with_name("model.table_ii.json").read_text())
    table["setup"] = {**vars(args), "out": str(args.out), "train_images": len(train_rows),
                      "test_images": len(test_rows), "epochs_run": len(result.history),
                      "stop_reason": result.stop_reason}
    model.with_name("model.table_ii.json").write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
