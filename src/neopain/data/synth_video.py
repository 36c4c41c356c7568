"""Synthetic videos with a known answer: each baby rests, undergoes a procedure and recovers, and every
frame's truth is written down (time, phase, each action's presence and intensity, face visible, regions
hidden under a hand, the face box).

The stills' identity model and scene renderer draw every frame (``synthetic.render_scene``); the timeline
(``synth_timeline.plan``) says what the face does. The cot, the light and the camera are drawn once per
video from fixed streams, the sensor grain afresh each frame. Same seed, same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neopain.core.atomic import atomic_write_bytes
from neopain.core.processes import ordered_map
from neopain.data.synth_identity import Expression, Identity, face_ellipse, sample_identity
from neopain.data.synth_render import SceneDraws, face_box, half_extents, render_scene
from neopain.data.synth_scene import Placement, fist
from neopain.data.synth_timeline import PHASES, Timeline, VideoConfig, plan
from neopain.data.synthetic import Progress, SynthConfig, sample_light
from neopain.pixels.videoio import write_video
from neopain.scales.nfcs import ACTIONS

DATASET = "synthetic-video"
# Seed-sequence tags of a video's own streams (the timeline's parts use 11-15; the stills' 1-3).
_IDENTITY, _SCENE, _GRAIN, _PLACE = 21, 22, 23, 24
# The face counts as in view while at least this share of its box lies inside the frame.
VISIBLE_FROM = 0.5

BOX = ("box_x", "box_y", "box_w", "box_h")
TRUTH_COLUMNS = (
    "video", "subject", "frame", "t", "phase", "pain_state", "face_visible", "hidden", "blink", *BOX,
    *(f"nfcs_{a}" for a in ACTIONS), *(f"i_{a}" for a in ACTIONS), "nfcs_score",
)
VIDEO_COLUMNS = (
    "path", "subject", "dataset", "sex", "fps", "frames", "seconds", "width", "height", "rest_end",
    "procedure_end",
)
SEGMENT_COLUMNS = ("path", "subject", "label", "start", "end", "phase", "pain_share")
EVENT_COLUMNS = ("video", "subject", "action", "onset", "offset", "peak")


@dataclass(frozen=True)
class FrameTruth:
    """What one frame shows, exactly."""

    frame: int
    t: float
    phase: str
    face_visible: bool
    hidden: tuple[str, ...]
    blink: bool
    box: tuple[float, float, float, float] | None
    intensity: dict[str, float]

    @property
    def present(self) -> dict[str, int]:
        return {a: int(self.intensity[a] > 0) for a in ACTIONS}


def video_subject_id(seed: int, subject: int) -> str:
    """Video babies are not the stills' babies: their own id (and identity stream)."""
    return f"synvid{seed}_{subject:02d}"


def video_name(subject: int) -> str:
    return f"videos/s{subject:02d}.avi"


def _rng(config: VideoConfig, subject: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, subject, *tags])


def scene_config(config: VideoConfig) -> SynthConfig:
    """The stills' scene knobs for a video: no static fist or finger (a hand only passes, and is recorded)."""
    return SynthConfig(
        size=config.size, hand_rate=0.0, finger_rate=0.0, tube_rate=config.tube_rate,
        blur_max=config.blur_max, noise_max=config.noise_max,
    )


class _Baby:
    """One subject's video: identity, timeline, placement over time, and the renderer of each frame."""

    def __init__(self, config: VideoConfig, subject: int) -> None:
        self.config, self.subject = config, subject
        self.identity: Identity = sample_identity(_rng(config, subject, _IDENTITY))
        self.timeline: Timeline = plan(config, subject)
        rng = _rng(config, subject, _PLACE)
        self.scale = float(rng.uniform(*config.face_width) * config.size / 2)
        self.home = rng.uniform(0.4, 0.6, 2) * config.size  # where the face box centre rests
        self.light = sample_light(rng)
        self.scene = scene_config(config)
        self.times = config.times()
        self.intensities = self.timeline.intensities(self.times)
        self.phases = self.timeline.phase(self.times)
        self.blinks = self.timeline.blinking(self.times)
        self.aways = self.timeline.away_shift(self.times)

    def placement(self, k: int) -> Placement:
        """Roll and drift (larger during the procedure), kept in the frame unless the face is leaving it."""
        t, line = self.times[k : k + 1], self.timeline
        stir = line.agitation(t)[0]
        roll = line.roll0 + line.wave(0, t)[0] * stir
        hx, hy = half_extents(self.identity, self.scale, roll)
        size = self.config.size
        cx = np.clip(self.home[0] + line.wave(1, t)[0] * stir * self.scale, hx + 1, size - 2 - hx)
        cy = np.clip(self.home[1] + line.wave(2, t)[0] * stir * self.scale, hy + 1, size - 2 - hy)
        cx, cy = np.array([cx, cy]) + self.aways[k] * 1.3 * size
        (fx, fy), _ = face_ellipse(self.identity)
        offset = Placement((0.0, 0.0), self.scale, roll).to_image(np.array([(fx, fy)]))[0]
        return Placement((float(cx - offset[0]), float(cy - offset[1])), self.scale, float(roll))

    def expression(self, k: int) -> Expression:
        t = self.times[k : k + 1]
        intensity = {a: float(self.intensities[a][k]) for a in ACTIONS}
        eyes = 0.0 if self.blinks[k] else self.timeline.eyes_open
        gaze = (float(self.timeline.wave(3, t)[0]), float(self.timeline.wave(4, t)[0]))
        return Expression(intensity, eyes, gaze)

    def draws(self, k: int) -> SceneDraws:
        """The same cot, head detail and camera every frame; fresh grain."""
        fixed = [_rng(self.config, self.subject, _SCENE, part) for part in range(4)]
        return SceneDraws(*fixed, grain=_rng(self.config, self.subject, _GRAIN, k))

    def render(self, k: int) -> tuple[np.ndarray, FrameTruth]:
        """Frame k and its truth."""
        place, t = self.placement(k), float(self.times[k])
        cover: list[np.ndarray] = []

        def hands(image: np.ndarray) -> None:
            for hand_pass in self.timeline.passes:
                where = hand_pass.at(t)
                if where is not None:
                    cover.append(fist(image, place, self.identity, self.light, hand_pass.size, *where))

        expr = self.expression(k)
        scene = render_scene(self.scene, self.identity, expr, place, self.light, self.draws(k), hands)
        passing = np.max(cover, axis=0) if cover else None
        box = face_box(self.identity, place)
        visible = _inside_share(box, self.config.size) >= VISIBLE_FROM
        truth = FrameTruth(
            frame=k, t=t, phase=PHASES[int(self.phases[k])], face_visible=visible,
            hidden=scene.hidden(passing), blink=bool(self.blinks[k]),
            box=box if visible else None, intensity={a: float(self.intensities[a][k]) for a in ACTIONS},
        )
        return scene.pixels, truth


def _inside_share(box: tuple[float, float, float, float], size: int) -> float:
    x, y, w, h = box
    inside_w = max(0.0, min(x + w, size) - max(x, 0.0))
    inside_h = max(0.0, min(y + h, size) - max(y, 0.0))
    return inside_w * inside_h / (w * h)


def _f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def _truth_row(seed: int, subject: int, truth: FrameTruth) -> list[str]:
    box = [_f(v, 2) for v in truth.box] if truth.box is not None else [""] * 4
    present = truth.present
    return [
        video_name(subject), video_subject_id(seed, subject), str(truth.frame), _f(truth.t), truth.phase,
        str(int(truth.phase == "procedure")), str(int(truth.face_visible)), ";".join(truth.hidden),
        str(int(truth.blink)), *box, *(str(present[a]) for a in ACTIONS),
        *(_f(truth.intensity[a]) for a in ACTIONS), str(sum(present.values())),
    ]


def events(truths: list[FrameTruth], fps: float) -> list[tuple[str, float, float, float]]:
    """(action, onset, offset, peak) of every run of frames where an action is present."""
    found = []
    for action in ACTIONS:
        run: list[FrameTruth] = []
        for truth in [*truths, None]:
            if truth is not None and truth.intensity[action] > 0:
                run.append(truth)
                continue
            if run:
                peak = max(r.intensity[action] for r in run)
                found.append((action, run[0].t, run[-1].t + 1 / fps, peak))
            run = []
    return sorted(found, key=lambda e: (e[1], ACTIONS.index(e[0])))


def segments(baby: _Baby) -> list[list[str]]:
    """Consecutive segments of ``segment_s`` seconds, labelled pain when at least half lies in the
    procedure (the segment-level task of video sets such as iCOPEvid)."""
    config, line = baby.config, baby.timeline
    bounds = [(0.0, line.rest_end), (line.rest_end, line.procedure_end), (line.procedure_end, config.seconds)]
    rows, start = [], 0.0
    while start < config.seconds - 1e-9:
        end = min(config.seconds, start + config.segment_s)
        overlap = [max(0.0, min(end, hi) - max(start, lo)) for lo, hi in bounds]
        share = overlap[1] / (end - start)
        rows.append([
            video_name(baby.subject), video_subject_id(config.seed, baby.subject),
            "pain" if share >= 0.5 else "no_pain", _f(start), _f(end), PHASES[int(np.argmax(overlap))],
            _f(share),
        ])
        start = end
    return rows


def _csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


@dataclass
class _Tables:
    truth: list[list[str]]
    videos: list[list[str]]
    segments: list[list[str]]
    events: list[list[str]]


def _write_subject(job: tuple[Path, VideoConfig, int]) -> _Tables:
    """Render and write one baby's video; its rows of the four tables."""
    out_dir, config, subject = job
    baby, truths, tables = _Baby(config, subject), [], _Tables([], [], [], [])

    def frames() -> Iterator[np.ndarray]:
        for k in range(config.frames):
            pixels, truth = baby.render(k)
            truths.append(truth)
            yield pixels

    name, sid, line = video_name(baby.subject), video_subject_id(config.seed, baby.subject), baby.timeline
    write_video(out_dir / name, frames(), config.fps)
    tables.truth.extend(_truth_row(config.seed, baby.subject, t) for t in truths)
    for action, onset, offset, peak in events(truths, config.fps):
        tables.events.append([name, sid, action, _f(onset), _f(offset), _f(peak)])
    tables.segments.extend(segments(baby))
    tables.videos.append([
        name, sid, DATASET, baby.identity.sex, f"{config.fps:g}", str(config.frames),
        _f(config.frames / config.fps), str(config.size), str(config.size), _f(line.rest_end),
        _f(line.procedure_end),
    ])
    return tables


def generate_videos(
    out_dir: str | Path, config: VideoConfig, progress: Progress | None = None, workers: int = 1
) -> Path:
    """Write ``videos/``, ``truth.csv``, ``events.csv``, ``segments.csv`` and, last, ``videos.csv``;
    ``workers`` > 1 renders that many babies at a time (the same bytes: each baby has its own seeds)."""
    out_dir = Path(out_dir)
    jobs = [(out_dir, config, subject) for subject in range(1, config.subjects + 1)]
    written: Iterable[_Tables] = ordered_map(_write_subject, jobs, workers)
    tables = _Tables([], [], [], [])
    for part in progress(written, "synthesising videos", len(jobs)) if progress else written:
        for name in ("truth", "videos", "segments", "events"):
            getattr(tables, name).extend(getattr(part, name))
    _csv(out_dir / "truth.csv", TRUTH_COLUMNS, tables.truth)
    _csv(out_dir / "events.csv", EVENT_COLUMNS, tables.events)
    _csv(out_dir / "segments.csv", SEGMENT_COLUMNS, tables.segments)
    return _csv(out_dir / "videos.csv", VIDEO_COLUMNS, tables.videos)


def synthesize_videos(
    out_dir: str | Path,
    subjects: int = 10,
    seconds: float = 120.0,
    fps: float = 10.0,
    seed: int = 0,
    size: int = 256,
    progress: Progress | None = None,
    workers: int = 1,
) -> Path:
    """Generate the synthetic video benchmark; returns ``out_dir/videos.csv``."""
    config = VideoConfig(subjects=subjects, seconds=seconds, fps=fps, seed=seed, size=size)
    return generate_videos(out_dir, config, progress, workers)
