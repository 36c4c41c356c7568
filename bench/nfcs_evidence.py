"""Occlusion evidence of an NFCS model against the synthetic truth: for every face where an action is
present, is the region whose blurring drops that action most the action's own NFCS region?

The regions come from the faces' true masks (synthetic crops carry them). Prints JSON: per action the faces
where it is present and the share whose strongest region is its own, and the share over all of them
(the goal: >= 0.80).

    PYTHONPATH=src python bench/nfcs_evidence.py MODEL.onnx HELD_OUT_FACES.csv [--limit 200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from neopain.data import read_manifest, resolve_path
from neopain.inference import OnnxClassifier
from neopain.inference.evidence import occlusion_evidence
from neopain.pixels.imageio import read_image
from neopain.scales.nfcs import ACTION_REGION, REGIONS, region_bit


def region_masks(mask: np.ndarray) -> dict[str, np.ndarray]:
    return {region: (mask & region_bit(region)) > 0 for region in REGIONS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("faces", type=Path, help="faces manifest of held-out synthetic crops (with mask_path)")
    parser.add_argument("--limit", type=int, default=None, help="at most N faces (seeded choice)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    classifier = OnnxClassifier(args.model)
    samples = [s for s in read_manifest(args.faces) if s.mask_path and s.actions]
    if args.limit is not None and len(samples) > args.limit:
        chosen = np.random.default_rng(args.seed).choice(len(samples), args.limit, replace=False)
        samples = [samples[i] for i in sorted(chosen.tolist())]
    hits: dict[str, list[bool]] = {a: [] for a in classifier.config.actions}
    for sample in samples:
        crop = read_image(resolve_path(args.faces, sample.path))
        mask = cv2.imread(str(resolve_path(args.faces, sample.mask_path)), cv2.IMREAD_UNCHANGED)
        evidence = occlusion_evidence(classifier, crop, region_masks(mask))
        for action, present in sample.actions.items():
            if present and action in hits:
                hits[action].append(evidence.strongest_region(action) == ACTION_REGION[action])
    every = [h for values in hits.values() for h in values]
    report = {
        "model": classifier.model_id,
        "faces": len(samples),
        "faces_manifest": str(args.faces),
        "per_action": {a: {"present_in": len(v), "own_region_strongest": round(float(np.mean(v)), 3) if v else None}
                       for a, v in hits.items()},
        "own_region_strongest_overall": round(float(np.mean(every)), 3) if every else None,
        "goal": 0.80,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
