"""Synthetic hospitals that differ as real ones do (non-IID): each its own babies' skin tones, its rooms'
light, its camera, and its share of painful procedures. One folder (images, masks, manifest) per site."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from neopain.data.synthetic import PRESETS, Progress, SynthConfig, generate

# Three hospitals far enough apart that a model trained at one is tested elsewhere on other faces:
# A sees light-skinned babies in warm, bright rooms on a sharp camera, many procedures;
# B dark-skinned babies in dim rooms under a cool LED on a grainy camera, few procedures;
# C a mixed population on a soft-focus camera, as many painful pictures as calm ones.
SITES: dict[str, dict[str, object]] = {
    "hospital-a": {"skin_tones": (0.0, 0.45), "exposure": 1.12, "white_balance": (1.08, 1.0, 0.88),
                   "pain_rate": 0.65, "blur_max": 0.8, "noise_max": 0.02},
    "hospital-b": {"skin_tones": (0.55, 1.0), "exposure": 0.72, "white_balance": (0.9, 1.0, 1.12),
                   "pain_rate": 0.35, "blur_max": 1.4, "noise_max": 0.09},
    "hospital-c": {"skin_tones": (0.25, 0.75), "exposure": 0.95, "white_balance": (1.0, 1.0, 1.0),
                   "pain_rate": 0.5, "blur_max": 2.6, "noise_max": 0.04},
}


def site_configs(sites: int, base: SynthConfig) -> dict[str, SynthConfig]:
    """The first ``sites`` hospitals of SITES on top of ``base``; each its own seed, so no baby is shared
    (subject ids carry the seed)."""
    if not 1 <= sites <= len(SITES):
        raise ValueError(f"synthetic sites: 1 to {len(SITES)}, got {sites}")
    names = list(SITES)[:sites]
    return {name: replace(base, seed=base.seed * 100 + k + 1, **SITES[name])  # type: ignore[arg-type]
            for k, name in enumerate(names)}


def synthesize_sites(
    out_dir: Path, sites: int = 3, subjects: int = 30, images_per_subject: int = 12, seed: int = 0, size: int = 256,
    label_noise: float = SynthConfig.label_noise, preset: str = "benchmark", progress: Progress | None = None,
) -> list[Path]:
    """Write ``out_dir/<hospital>/manifest.csv`` (with images and masks) per site; returns the manifests."""
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset '{preset}'; choose one of {', '.join(PRESETS)}")
    base = SynthConfig(subjects=subjects, images_per_subject=images_per_subject, seed=seed, size=size,
                       label_noise=label_noise, **PRESETS[preset])  # type: ignore[arg-type]
    return [generate(Path(out_dir) / name, config, progress) for name, config in site_configs(sites, base).items()]
