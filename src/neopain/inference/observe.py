"""A video observed with an NFCS model: every sampled frame read (face found, P(pain), each action), then an
instrument scored over consecutive observation windows (``neopain.scales.windows``), torch-free.

The model proposes the facial items; the items a nurse enters (PIPP-R's heart rate, SpO2, gestational age,
state) are unknown here unless given, so such a window gets its proposals and no total, never a guessed
one. A window with too few readable frames is "not scorable"; a clip shorter than one window is refused.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from neopain.inference.model import ModelFileError
from neopain.inference.predictor import Assessment, Predictor
from neopain.pixels.videoio import VideoInfo, probe, read_frames
from neopain.scales.instruments import Instrument, InstrumentError, check_values, instrument
from neopain.scales.windows import FrameReading, WindowError, WindowScore, readings_around, score_window

T = TypeVar("T")
Progress = Callable[[Iterable[T], str, int | None], Iterable[T]]
DEFAULT_FPS = 10.0
# Short names for the command line; "nfcs" is the model's own NFCS version (nfcs-10 or nfcs-8).
ALIASES = {"nfcs-p3": "nfcs-p-3"}
PROPOSES = "the model proposes, the clinician decides"
STAGE_NAMES = ("decode", "detect", "crop", "classify")


def _no_progress(items: Iterable[T], _description: str, _total: int | None) -> Iterable[T]:
    return items


@dataclass(frozen=True)
class ObservedFrame:
    """One sampled frame: ``face`` when the quality gate passed; action p None when not assessable."""

    index: int
    t: float
    face: bool
    reason: str | None
    p_pain: float | None
    actions: dict[str, float | None]
    timings_ms: dict[str, float]

    def reading(self) -> FrameReading:
        return FrameReading(self.t, self.face, self.actions if self.face else {})


@dataclass(frozen=True)
class Observation:
    """A clip, the frames read, and the instrument over each window (a shorter tail left out)."""

    video: VideoInfo
    sample_fps: float  # the rate the frames were read at (the native one when lower than asked)
    instrument: Instrument
    nfcs_version: str
    actions: tuple[str, ...]
    model_path: Path
    model_id: str
    synthetic: bool
    entered: dict[str, int | None]
    frames: list[ObservedFrame]
    windows: list[WindowScore]
    windows_ms: float
    left_out_s: float = 0.0

    def readable_share(self, start: float, end: float) -> float:
        """Face frames of those the window should hold at the sampling rate (0-1)."""
        expected = max(1, round((end - start) * self.sample_fps))
        faces = sum(f.face for f in self.frames if start <= f.t < end)
        return min(1.0, faces / expected)

    def stage_medians_ms(self) -> dict[str, float]:
        """Per stage the median over the frames that ran it (crop and classify only where a face was)."""
        out = {}
        for stage in STAGE_NAMES:
            values = [f.timings_ms[stage] for f in self.frames if f.timings_ms.get(stage)]
            out[stage] = round(statistics.median(values), 3) if values else 0.0
        return out


def resolve_instrument(name: str, nfcs_version: str) -> Instrument:
    """The instrument for a command-line name: an instrument's own, an alias, or "nfcs" (the model's)."""
    if name == "nfcs":
        return instrument(nfcs_version if nfcs_version != "nfcs-p-3" else "nfcs-10")
    return instrument(ALIASES.get(name, name))


def parse_entered(inst: Instrument, pairs: Sequence[str]) -> dict[str, int | None]:
    """``key=value`` pairs checked against the instrument's items (InstrumentError naming a bad one)."""
    values: dict[str, int | None] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InstrumentError(f"--entered {pair!r}: write ITEM=VALUE (items of {inst.name}: "
                                  f"{', '.join(inst.keys)})")
        try:
            values[key] = int(text)
        except ValueError:
            inst.item(key)  # an unknown item is named first
            raise InstrumentError(f"{inst.name}: item {key!r} = {text.strip()!r} is not a whole "
                                  "number") from None
    return {k: v for k, v in check_values(inst, values).items() if v is not None}


def _needs_actions(predictor: Predictor) -> None:
    if not predictor.classifier.has_actions:
        raise ModelFileError(f"{predictor.classifier.path}: this model has no NFCS action outputs; an "
                             "instrument needs an NFCS model (trained with --targets pain,nfcs)")


def window_edges(inst: Instrument, duration_s: float, video: Path) -> tuple[list[tuple[float, float]], float]:
    """Consecutive whole windows from 0 and the tail left out; WindowError when not even one fits."""
    count = int((duration_s + 1e-6) // inst.window_s)
    if count < 1:
        raise WindowError(f"{video}: {duration_s:.1f} s is shorter than one {inst.name} window "
                          f"({inst.window_s:g} s): nothing to score")
    edges = [(k * inst.window_s, (k + 1) * inst.window_s) for k in range(count)]
    return edges, max(0.0, duration_s - count * inst.window_s)


def _observed(index: int, t: float, result: Assessment, decode_ms: float) -> ObservedFrame:
    actions: dict[str, float | None] = {}
    if result.ok and result.nfcs is not None:
        actions = {name: (a.probability if a.assessable else None) for name, a in result.nfcs.actions.items()}
    timings = {"decode": decode_ms, **{k: float(v) for k, v in result.timings_ms.items() if k != "decode"}}
    face = result.ok and result.nfcs is not None
    p_pain = result.probability if face else None
    return ObservedFrame(index, t, face, result.reason, p_pain, actions, timings)


def _timed(frames: Iterator[tuple[int, float, np.ndarray]]) -> Iterator[tuple[int, float, np.ndarray, float]]:
    """The frames with the milliseconds it took to decode (and sample) each."""
    while True:
        start = time.perf_counter()
        try:
            index, t, frame = next(frames)
        except StopIteration:
            return
        yield index, t, frame, (time.perf_counter() - start) * 1000.0


def read_clip(predictor: Predictor, video: Path, fps: float, progress: Progress = _no_progress,
              total: int | None = None) -> list[ObservedFrame]:
    """Every frame of ``video`` sampled at ``fps``, assessed on its own (the windows smooth over time)."""
    predictor.start_clip()
    frames = _timed(read_frames(video, fps))
    return [_observed(i, t, predictor.assess(image), ms)
            for i, t, image, ms in progress(frames, f"reading {video.name}", total)]


def score_windows(inst: Instrument, frames: Sequence[ObservedFrame], edges: Sequence[tuple[float, float]],
                  entered: Mapping[str, int | None], version: str) -> list[WindowScore]:
    """The instrument over each window, the entered items the same in every one."""
    readings = [f.reading() for f in frames]
    return [score_window(inst, readings_around(readings, a, b), a, b, entered or None, version=version)
            for a, b in edges]


def observe_video(predictor: Predictor, video: Path, name: str, fps: float = DEFAULT_FPS,
            entered: Sequence[str] = (), progress: Progress = _no_progress) -> Observation:
    """Read ``video`` at ``fps`` with an NFCS model and score instrument ``name`` over its windows.

    Checked before any frame is read: the model has action outputs (ModelFileError), the instrument and the
    entered items (InstrumentError), the clip decodes with a frame rate (VideoError) and holds one window
    (WindowError naming the clip).
    """
    _needs_actions(predictor)
    cfg = predictor.config
    inst = resolve_instrument(name, cfg.nfcs_version)
    values = parse_entered(inst, entered)
    info = probe(video)
    edges, left_out = window_edges(inst, info.duration_s, video)
    rate = min(fps, info.fps)
    frames = read_clip(predictor, video, fps, progress, round(info.duration_s * rate))
    start = time.perf_counter()
    windows = score_windows(inst, frames, edges, values, cfg.nfcs_version)
    windows_ms = (time.perf_counter() - start) * 1000.0
    return Observation(info, rate, inst, cfg.nfcs_version, tuple(cfg.actions),
                       Path(predictor.classifier.path), predictor.model_id, predictor.synthetic, values,
                       frames, windows, windows_ms, left_out)
