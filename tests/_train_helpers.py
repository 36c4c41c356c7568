"""Tiny synthetic face crops and manifests for the training tests (no real faces, no weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neopain.data.manifest import Sample, write_manifest
from neopain.pixels.imageio import write_image


def draw_face(label: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A BGR 'face': noise plus a class cue (pain: a warm mouth bar; no pain: a cool, small dot)."""
    image = rng.integers(60, 120, size=(size, size, 3), dtype=np.uint8)
    c = size // 2
    if label == "pain":
        image[c + 2 : c + 8, 4 : size - 4] = (40, 60, 230)
    else:
        image[c - 3 : c + 3, c - 3 : c + 3] = (230, 120, 40)
    return image


def make_faces(
    folder: Path, subjects: int = 4, per_class: int = 3, size: int = 32, seed: int = 0, unlabelled: int = 0
) -> tuple[Path, list[Sample]]:
    """Write per-subject pain/no_pain crops and a manifest; returns (manifest file, samples)."""
    rng = np.random.default_rng(seed)
    samples = []
    for s in range(subjects):
        for label in ("pain", "no_pain"):
            for k in range(per_class):
                rel = f"faces/s{s:02d}_{label}_{k}.png"
                write_image(folder / rel, draw_face(label, rng, size))
                samples.append(Sample(path=rel, subject=f"S{s:02d}", dataset="synthetic", label=label))
    for k in range(unlabelled):
        rel = f"faces/u_{k}.png"
        write_image(folder / rel, draw_face("pain", rng, size))
        samples.append(Sample(path=rel, subject="S00", dataset="synthetic", label="", stimulus="cry"))
    manifest = write_manifest(samples, folder / "faces.csv")
    return manifest, samples
