"""Synthetic neonatal faces with known NFCS actions, labels and region masks: a benchmark with a known answer.

Each subject has a fixed identity; each image draws a latent pain state, which makes NFCS actions likely
(pain) or rare (rest). The label follows NFCS (``PAIN_THRESHOLD`` or more actions present = pain), flipped
with probability ``label_noise``. Everything random comes from generators seeded by (seed, subject, image),
so the same seed gives the same bytes whatever the order of generation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.processes import ordered_map
from neopain.data.manifest import Sample, write_manifest
from neopain.data.synth_draw import Light
from neopain.data.synth_identity import Expression, Identity, face_ellipse, sample_identity
from neopain.data.synth_render import SceneDraws, face_box, face_landmarks, half_extents, render_scene
from neopain.data.synth_scene import Placement
from neopain.data.synth_ward import WardPlan, WardRates
from neopain.pixels.imageio import write_image
from neopain.scales.nfcs import ACTIONS, PAIN_THRESHOLD

# How likely each action is in a latent pain state (scaled by severity) and at rest.
PAIN_ODDS: dict[str, float] = {
    "brow_bulge": 0.9,
    "eye_squeeze": 0.9,
    "nasolabial_furrow": 0.85,
    "open_lips": 0.85,
    "mouth_stretch_vertical": 0.6,
    "mouth_stretch_horizontal": 0.6,
    "lip_purse": 0.3,
    "taut_tongue": 0.45,
    "tongue_protrusion": 0.25,
    "chin_quiver": 0.45,
}
REST_ODDS: dict[str, float] = {
    "brow_bulge": 0.08,
    "eye_squeeze": 0.06,
    "nasolabial_furrow": 0.08,
    "open_lips": 0.12,
    "mouth_stretch_vertical": 0.04,
    "mouth_stretch_horizontal": 0.04,
    "lip_purse": 0.06,
    "taut_tongue": 0.03,
    "tongue_protrusion": 0.1,
    "chin_quiver": 0.06,
}
# Actions that cannot show with closed lips.
_NEEDS_OPEN_LIPS = ("mouth_stretch_vertical", "taut_tongue", "tongue_protrusion")

# Seed-sequence tags keep the identity, image, label-noise and ward streams apart.
_IDENTITY, _IMAGE, _NOISE, _WARD = 1, 2, 3, 4
__all__ = ["PRESETS", "SceneDraws", "SynthConfig", "SynthImage", "face_box", "generate", "half_extents",
           "identity_for", "render_image", "render_scene", "sample_expression", "sample_light", "subject_id",
           "synthesize"]

Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthetic benchmark; the defaults are the benchmark."""

    subjects: int = 30
    images_per_subject: int = 12
    seed: int = 0
    size: int = 256
    # Annotator disagreement; at 0.05 the labels' own ceiling (NFCS oracle, subject-independent AUC ~0.91)
    # left no room to tell a good pipeline from a perfect one.
    label_noise: float = 0.02
    pain_rate: float = 0.5  # probability of the latent pain state
    roll_max_deg: float = 30.0
    face_width: tuple[float, float] = (0.34, 0.56)  # face box width as a fraction of the image
    hand_rate: float = 0.35
    tube_rate: float = 0.25
    finger_rate: float = 0.2
    blur_max: float = 1.4  # Gaussian sigma in pixels at 256 px
    noise_max: float = 0.04  # sensor noise sigma on a 0..1 scale
    # The ward's conditions (docs/SYNTHETIC.md), off by default so the benchmark keeps its bytes.
    phototherapy_rate: float = 0.0  # blue lamps, eye shields on
    infrared_rate: float = 0.0  # a night camera's grey frame
    cpap_rate: float = 0.0  # nasal prongs or a mask, with straps
    pacifier_rate: float = 0.0
    tape_rate: float = 0.0
    caregiver_hand_rate: float = 0.0
    # A hospital's own population and equipment (docs/FEDERATED.md), neutral by default: where its babies
    # lie on the light-to-dark skin axis, its rooms' exposure, its camera's white balance (R, G, B gains).
    skin_tones: tuple[float, float] = (0.0, 1.0)
    exposure: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def camera_gains(self) -> tuple[float, float, float] | None:
        """RGB gains of the site's light and camera, None when neutral (the benchmark keeps its bytes)."""
        gains = tuple(self.exposure * g for g in self.white_balance)
        return None if gains == (1.0, 1.0, 1.0) else gains  # type: ignore[return-value]

    @property
    def ward(self) -> WardRates:
        return WardRates(self.phototherapy_rate, self.infrared_rate, self.cpap_rate, self.pacifier_rate,
                         self.tape_rate, self.caregiver_hand_rate)

    def __post_init__(self) -> None:
        checks = {
            "subjects": self.subjects >= 1,
            "images_per_subject": self.images_per_subject >= 1,
            "seed": self.seed >= 0,
            "size": self.size >= 32,
            "label_noise": 0.0 <= self.label_noise <= 0.5,
            "pain_rate": 0.0 <= self.pain_rate <= 1.0,
            "roll_max_deg": 0.0 <= self.roll_max_deg <= 180.0,
            "face_width": 0.1 <= self.face_width[0] <= self.face_width[1] <= 0.7,
            "skin_tones": 0.0 <= self.skin_tones[0] <= self.skin_tones[1] <= 1.0,
            "exposure": 0.3 <= self.exposure <= 2.0,
            "white_balance": len(self.white_balance) == 3 and all(0.5 <= g <= 1.5 for g in self.white_balance),
            **{name: 0.0 <= value <= 1.0 for name, value in self._rates().items()},
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SynthConfig: invalid {name}={getattr(self, name)!r}")

    def _rates(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name.endswith("_rate")}


# Named sets of knobs for ``neopain data synth --preset``: "nicu" turns every ward condition on and lets the
# face lie at any angle (the phone is held any way over the cot).
PRESETS: dict[str, dict[str, float]] = {
    "benchmark": {},
    "nicu": {
        "roll_max_deg": 180.0, "phototherapy_rate": 0.2, "infrared_rate": 0.2, "cpap_rate": 0.25,
        "pacifier_rate": 0.15, "tape_rate": 0.15, "caregiver_hand_rate": 0.12,
    },
}


@dataclass(frozen=True)
class SynthImage:
    """One rendered image with its ground truth."""

    image: np.ndarray  # uint8 BGR
    mask: np.ndarray  # uint8, bit i = region i of neopain.scales.nfcs.REGIONS
    box: tuple[float, float, float, float]
    expression: Expression
    pain_state: bool
    label: str
    landmarks: tuple[float, ...] = ()
    conditions: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


def identity_for(config: SynthConfig, subject: int) -> Identity:
    return sample_identity(np.random.default_rng([config.seed, subject, _IDENTITY]), config.skin_tones)


def sample_expression(rng: np.random.Generator, pain: bool) -> Expression:
    """Actions and intensities from the latent state; low severities give subtle, borderline faces."""
    # A floor of 0.4 (0.5 with nine actions) keeps the tenth action (lip purse) from pushing nearly every
    # pain-state face over the threshold: ~3% of them stay borderline, as before, with ~5.3 actions each.
    severity = rng.uniform(0.4, 1.0) if pain else 0.0
    intensity: dict[str, float] = {}
    for action in ACTIONS:
        odds = PAIN_ODDS[action] * (0.5 + 0.5 * severity) if pain else REST_ODDS[action]
        present = rng.random() < odds
        level = rng.uniform(0.4, 1.0) * (0.7 + 0.3 * severity) if pain else rng.uniform(0.2, 0.6)
        intensity[action] = float(max(level, 0.3)) if present else 0.0
    if any(intensity[a] for a in _NEEDS_OPEN_LIPS):
        intensity["open_lips"] = max(intensity["open_lips"], 0.3)
    if intensity["lip_purse"] and intensity["mouth_stretch_horizontal"]:
        # Pursed lips pull the corners in, a horizontal stretch pulls them out: one face shows one.
        intensity["lip_purse" if rng.random() < 0.5 else "mouth_stretch_horizontal"] = 0.0
    eyes_open = 0.0 if intensity["eye_squeeze"] or rng.random() < 0.55 else float(rng.uniform(0.4, 1.0))
    gaze = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
    return Expression(intensity=intensity, eyes_open=eyes_open, gaze=gaze)


def _placement(config: SynthConfig, ident: Identity, rng: np.random.Generator) -> Placement:
    """Roll, scale and a position that keeps the whole face box inside the image."""
    size = config.size
    scale = rng.uniform(*config.face_width) * size / 2
    roll = np.deg2rad(rng.uniform(-config.roll_max_deg, config.roll_max_deg))
    (fx, fy), _ = face_ellipse(ident)
    hx, hy = half_extents(ident, scale, roll)
    cx = rng.uniform(hx + 1, size - 2 - hx)
    cy = rng.uniform(hy + 1, size - 2 - hy)
    # The face box is centred on the ellipse centre, which sits (fx, fy) from the canvas centre.
    offset = Placement((0.0, 0.0), scale, roll).to_image(np.array([(fx, fy)]))[0]
    return Placement((float(cx - offset[0]), float(cy - offset[1])), float(scale), float(roll))


def sample_light(rng: np.random.Generator) -> Light:
    azimuth = rng.uniform(0, 2 * np.pi)
    lateral = rng.uniform(0.2, 0.9)
    return Light(
        (lateral * np.cos(azimuth), lateral * np.sin(azimuth), 1.0),
        float(rng.uniform(0.3, 0.55)),
        float(rng.uniform(0.03, 0.12)),
    )


def render_image(config: SynthConfig, ident: Identity, subject: int, k: int) -> SynthImage:
    """Render image k of a subject; depends only on (config, subject, k)."""
    rng = np.random.default_rng([config.seed, subject, _IMAGE, k])
    pain = bool(rng.random() < config.pain_rate)
    expr = sample_expression(rng, pain)
    place = _placement(config, ident, rng)
    light = sample_light(rng)
    draws = SceneDraws.one(rng)
    if config.ward.any:
        ward_rng = np.random.default_rng([config.seed, subject, _WARD, k])
        draws = SceneDraws(rng, rng, rng, rng, rng, WardPlan.draw(config.ward, ward_rng), ward_rng)
    scene = render_scene(config, ident, expr, place, light, draws)
    box = face_box(ident, place)
    present = expr.present()
    label = "pain" if sum(present.values()) >= PAIN_THRESHOLD else "no_pain"
    if np.random.default_rng([config.seed, subject, _NOISE, k]).random() < config.label_noise:
        label = "no_pain" if label == "pain" else "pain"
    return SynthImage(scene.pixels, scene.mask, box, expr, pain, label, face_landmarks(ident, place),
                      scene.conditions, scene.hidden())


def _name(subject: int, k: int) -> str:
    return f"s{subject:02d}_{k:02d}.png"


def subject_id(seed: int, subject: int) -> str:
    """Subject ids carry the seed: syn01 of seed 0 and of seed 1 are different babies."""
    return f"syn{seed}_{subject:02d}"


def _sample(seed: int, ident: Identity, subject: int, k: int, rendered: SynthImage) -> Sample:
    present = rendered.expression.present()
    return Sample(
        path=f"images/{_name(subject, k)}",
        subject=subject_id(seed, subject),
        dataset="synthetic",
        label=rendered.label,
        stimulus="pain" if rendered.pain_state else "rest",
        sex=ident.sex,
        box=rendered.box,
        actions=present,
        nfcs_score=float(sum(present.values())),
        mask_path=f"masks/{_name(subject, k)}",
        landmarks=rendered.landmarks,
        conditions=rendered.conditions,
        hidden=rendered.hidden,
    )


def generate(
    out_dir: Path, config: SynthConfig, progress: Progress | None = None, workers: int = 1
) -> Path:
    """Write images, masks and ``manifest.csv`` (last, atomically) under ``out_dir``; returns the manifest.

    ``workers`` > 1 renders in that many processes: every image draws from its own seeded generators, so
    the bytes are the same."""
    out_dir = Path(out_dir)
    jobs = [
        (out_dir, config, subject, k)
        for subject in range(1, config.subjects + 1) for k in range(config.images_per_subject)
    ]
    written: Iterable[Sample] = ordered_map(_write_image_pair, jobs, workers)
    samples = list(written if progress is None else progress(written, "synthesising", len(jobs)))
    return write_manifest(samples, out_dir / "manifest.csv")


def _write_image_pair(job: tuple[Path, SynthConfig, int, int]) -> Sample:
    """Render one image, write it and its mask; its manifest row."""
    out_dir, config, subject, k = job
    ident = identity_for(config, subject)
    rendered = render_image(config, ident, subject, k)
    write_image(out_dir / "images" / _name(subject, k), rendered.image)
    write_image(out_dir / "masks" / _name(subject, k), rendered.mask)
    return _sample(config.seed, ident, subject, k, rendered)


def synthesize(
    out_dir: Path,
    subjects: int = 30,
    images_per_subject: int = 12,
    seed: int = 0,
    size: int = 256,
    label_noise: float = SynthConfig.label_noise,
    progress: Progress | None = None,
    preset: str = "benchmark",
    workers: int = 1,
) -> Path:
    """Generate the synthetic benchmark (or a ``PRESETS`` variant); returns ``out_dir/manifest.csv``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset '{preset}'; choose one of {', '.join(PRESETS)}")
    config = SynthConfig(
        subjects=subjects,
        images_per_subject=images_per_subject,
        seed=seed,
        size=size,
        label_noise=label_noise,
        **PRESETS[preset],  # type: ignore[arg-type]
    )
    return generate(out_dir, config, progress, workers)
