"""Observation windows against the synthetic video truth: per-frame action AUC, PIPP-R's facial items,
NFCS-P-3 epoch scores, and the rule that a window with no visible face is never scored.

The truth is read by the same window engine (``neopain.scales.windows``) as the model's frames, from each frame's
known actions: a hidden region leaves its actions unread, a face out of view leaves the frame unread. The
video babies have their own identity stream (``data.synth_video``), so a model trained on the stills has
never seen any of them: every figure here is subject-independent.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from neopain.evaluate.metrics import roc_auc
from neopain.evaluate.nfcs import icc_a1, quadratic_kappa
from neopain.scales.instruments import instrument
from neopain.scales.nfcs import ACTION_REGION, ACTIONS
from neopain.scales.windows import (
    Baseline,
    FrameReading,
    WindowError,
    WindowScore,
    readings_around,
    record_baseline,
    score_window,
)

# Windows start every STRIDE_S seconds: overlapping 30-s PIPP-R windows (and 10-s NFCS-P-3 epochs) give
# enough windows from a few minutes of video; their figures are descriptive, not independent samples.
STRIDE_S = 5.0
# A model frame matches the truth frame nearest in time within half a frame period.
_MATCH = 0.5
INSTRUMENTS = ("pipp-r", "nfcs-p-3")


class VideoTruthError(ValueError):
    """A truth file that cannot be read; the message names the file, row and field."""


@dataclass(frozen=True)
class TruthFrame:
    t: float
    face_visible: bool
    hidden: tuple[str, ...]
    present: dict[str, int]
    pain_state: bool

    def reading(self) -> FrameReading:
        """The truth as the window engine reads a model: hidden regions' actions unread (None)."""
        actions: dict[str, float | None] = {
            a: None if ACTION_REGION[a] in self.hidden else float(v) for a, v in self.present.items()}
        return FrameReading(self.t, self.face_visible, actions if self.face_visible else {})


def _field(file: Path, row: int, record: Mapping[str, str], name: str) -> str:
    value = record.get(name)
    if value is None or value == "":
        raise VideoTruthError(f"{file}, row {row}: field {name!r} is missing")
    return value


def _number(file: Path, row: int, record: Mapping[str, str], name: str) -> float:
    text = _field(file, row, record, name)
    try:
        value = float(text)
    except ValueError:
        raise VideoTruthError(f"{file}, row {row}: field {name!r} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise VideoTruthError(f"{file}, row {row}: field {name!r} = {text!r} is not finite")
    return value


def _flag(file: Path, row: int, record: Mapping[str, str], name: str) -> bool:
    text = _field(file, row, record, name)
    if text not in ("0", "1"):
        raise VideoTruthError(f"{file}, row {row}: field {name!r} = {text!r} must be 0 or 1")
    return text == "1"


def _truth_frame(file: Path, row: int, record: Mapping[str, str]) -> TruthFrame:
    hidden = tuple(h for h in (record.get("hidden") or "").split(";") if h)
    present = {a: int(_flag(file, row, record, f"nfcs_{a}")) for a in ACTIONS}
    return TruthFrame(_number(file, row, record, "t"), _flag(file, row, record, "face_visible"), hidden,
                      present, _flag(file, row, record, "pain_state"))


def read_video_truth(path: str | Path) -> dict[str, list[TruthFrame]]:
    """``truth.csv`` of ``neopain data synth-video``: per video (its file name) the frames in time order."""
    file = Path(path)
    if not file.is_file():
        raise VideoTruthError(f"{file}: truth file not found")
    out: dict[str, list[TruthFrame]] = {}
    with file.open(newline="") as handle:
        for row, record in enumerate(csv.DictReader(handle), start=2):
            video = Path(_field(file, row, record, "video")).name
            out.setdefault(video, []).append(_truth_frame(file, row, record))
    if not out:
        raise VideoTruthError(f"{file}: no frames")
    for frames in out.values():
        frames.sort(key=lambda f: f.t)
    return out


def _period(times: Sequence[float]) -> float:
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def frame_pairs(truth: Sequence[TruthFrame], model: Sequence[FrameReading]) -> list[tuple[TruthFrame,
                                                                                          FrameReading]]:
    """Each model frame with the truth frame nearest in time (within half a truth frame period)."""
    times = np.array([f.t for f in truth])
    limit = _MATCH * _period(times)
    pairs = []
    for reading in model:
        k = int(np.argmin(np.abs(times - reading.t)))
        if abs(times[k] - reading.t) <= limit + 1e-9:
            pairs.append((truth[k], reading))
    return pairs


def frame_metrics(pairs: Sequence[tuple[TruthFrame, FrameReading]]) -> dict[str, Any]:
    """Per action the ROC AUC over frames the truth can read and the model read a face on; face coverage."""
    visible = [(t, r) for t, r in pairs if t.face_visible]
    out: dict[str, Any] = {
        "frames": len(pairs), "visible": len(visible),
        "read_of_visible": sum(r.face for _, r in visible) / max(1, len(visible)),
        "read_of_not_visible": sum(r.face for t, r in pairs if not t.face_visible)
                               / max(1, len(pairs) - len(visible)),
    }
    aucs = {}
    for action in ACTIONS:
        y, p = [], []
        for truth, reading in visible:
            value = reading.actions.get(action) if reading.face else None
            if value is not None and ACTION_REGION[action] not in truth.hidden:
                y.append(truth.present[action])
                p.append(value)
        aucs[action] = roc_auc(y, p) if 0 < sum(y) < len(y) else math.nan
    out["action_auc"] = aucs
    known = [v for v in aucs.values() if not math.isnan(v)]
    out["mean_action_auc"] = float(np.mean(known)) if known else math.nan
    return out


def window_starts(duration_s: float, length_s: float, stride_s: float = STRIDE_S) -> list[float]:
    """Window starts every ``stride_s`` seconds while a whole window fits."""
    count = int((duration_s - length_s + 1e-6) // stride_s) + 1
    return [k * stride_s for k in range(max(count, 0))]


@dataclass(frozen=True)
class WindowPair:
    video: str
    start: float
    end: float
    visible_frames: int  # truth frames in the window with the face in view
    truth: WindowScore
    model: WindowScore


def window_pairs(name: str, video: str, truth: Sequence[TruthFrame], model: Sequence[FrameReading],
                 stride_s: float = STRIDE_S, baseline: Baseline | None = None) -> list[WindowPair]:
    """The instrument over the same windows, read from the truth and from the model (relative to the baby's
    ``baseline`` when given: the truth needs none, it codes what the face does)."""
    inst = instrument(name)
    truth_readings = [f.reading() for f in truth]
    duration = truth[-1].t + _period([f.t for f in truth])
    out = []
    for start in window_starts(duration, inst.window_s, stride_s):
        end = start + inst.window_s
        visible = sum(f.face_visible for f in truth if start <= f.t < end)
        out.append(WindowPair(video, start, end, visible,
                              score_window(inst, readings_around(truth_readings, start, end), start, end),
                              score_window(inst, readings_around(model, start, end), start, end,
                                           baseline=baseline, now=baseline and baseline.recorded_at)))
    return out


def _values(pairs: Sequence[WindowPair], item: str) -> tuple[np.ndarray, np.ndarray]:
    """(truth, model) values of ``item`` over the windows where both could read it."""
    both = [(p.truth.proposals[item].value, p.model.proposals[item].value) for p in pairs]
    kept = [(a, b) for a, b in both if a is not None and b is not None]
    return np.array([a for a, _ in kept], int), np.array([b for _, b in kept], int)


def _scored_without_face(pairs: Sequence[WindowPair]) -> int:
    """Windows with no face in view whose model reading still proposed a value: must be 0."""
    return sum(1 for p in pairs if p.visible_frames == 0
               and any(v.value is not None for v in p.model.proposals.values()))


def _coverage(pairs: Sequence[WindowPair]) -> dict[str, int]:
    return {"windows": len(pairs),
            "truth_scorable": sum(p.truth.scorable for p in pairs),
            "model_scorable": sum(p.model.scorable for p in pairs),
            "both_scorable": sum(p.truth.scorable and p.model.scorable for p in pairs),
            "no_face_in_view": sum(p.visible_frames == 0 for p in pairs),
            "scored_without_face": _scored_without_face(pairs)}


def pipp_metrics(pairs: Sequence[WindowPair]) -> dict[str, Any]:
    """PIPP-R's facial items (0-3 from the window's share): exact agreement and quadratic kappa, per item and
    pooled over the three."""
    inst = instrument("pipp-r")
    items: dict[str, Any] = {}
    pooled_a, pooled_b = [], []
    for item in inst.facial_items:
        a, b = _values(pairs, item.key)
        pooled_a.append(a)
        pooled_b.append(b)
        items[item.key] = {"n": len(a), "exact": float(np.mean(a == b)) if len(a) else math.nan,
                           "kappa": quadratic_kappa(a, b, 4)}
    a, b = np.concatenate(pooled_a), np.concatenate(pooled_b)
    return {"items": items, "n": len(a), "exact": float(np.mean(a == b)) if len(a) else math.nan,
            "kappa": quadratic_kappa(a, b, 4), **_coverage(pairs)}


def epoch_metrics(pairs: Sequence[WindowPair]) -> dict[str, Any]:
    """NFCS-P-3 epoch totals (0-30): ICC(2,1) and MAE against the truth, agreement of pain (>= 9)."""
    both = [(p.truth.total, p.model.total) for p in pairs]
    kept = np.array([(a, b) for a, b in both if a is not None and b is not None], float).reshape(-1, 2)
    threshold = instrument("nfcs-p-3").bands[-1].low
    return {"n": len(kept), "icc": icc_a1(kept) if len(kept) else math.nan,
            "mae": float(np.abs(kept[:, 0] - kept[:, 1]).mean()) if len(kept) else math.nan,
            "pain_agreement": float(np.mean((kept[:, 0] >= threshold) == (kept[:, 1] >= threshold)))
                              if len(kept) else math.nan,
            **_coverage(pairs)}


def baselines(model: Mapping[str, Sequence[FrameReading]], seconds: float) -> tuple[dict[str, Baseline],
                                                                                      dict[str, str]]:
    """Each baby's baseline from the model's reading of its first ``seconds`` (the settled rest before the
    procedure), and why a baby has none (too few readable frames, not settled): it is scored without."""
    now = datetime.now(UTC)
    made, refused = {}, {}
    for video, readings in model.items():
        try:
            made[video] = record_baseline(readings, 0.0, seconds, now)
        except WindowError as exc:
            refused[video] = str(exc)
    return made, refused


def evaluate_videos(truth: Mapping[str, Sequence[TruthFrame]], model: Mapping[str, Sequence[FrameReading]],
                    stride_s: float = STRIDE_S, baseline_s: float | None = None) -> dict[str, Any]:
    """Every metric over the videos the model read (named as in ``truth``), JSON-ready; with ``baseline_s``
    the model codes each baby's actions relative to its first ``baseline_s`` seconds."""
    missing = sorted(set(model) - set(truth))
    if missing:
        raise VideoTruthError(f"no truth for video(s) {', '.join(missing)}")
    made, refused = baselines(model, baseline_s) if baseline_s else ({}, {})
    pairs = [p for v in model for p in frame_pairs(truth[v], model[v])]
    windows = {name: [w for v in model
                      for w in window_pairs(name, v, truth[v], model[v], stride_s, made.get(v))]
               for name in INSTRUMENTS}
    return {"videos": sorted(model), "stride_s": stride_s, "frames": frame_metrics(pairs),
            "pipp_r": pipp_metrics(windows["pipp-r"]), "nfcs_p3": epoch_metrics(windows["nfcs-p-3"]),
            "baseline_s": baseline_s, "baselines": len(made), "baselines_refused": refused,
            "protocol": "subject-independent: the video babies are identities no model trained on"}


def _f(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _coverage_line(m: Mapping[str, Any], unit: str) -> str:
    return (f"{m['windows']} {unit} ({m['truth_scorable']} scorable by the truth, {m['model_scorable']} by "
            f"the model, {m['both_scorable']} by both); {m['no_face_in_view']} with no face in view, "
            f"**{m['scored_without_face']}** of them scored by the model (must be 0)")


def _baseline_line(result: Mapping[str, Any]) -> str:
    if not result.get("baseline_s"):
        return "Actions coded on their own (no per-baby baseline)."
    refused = result["baselines_refused"]
    line = (f"Actions coded relative to each baby's baseline (its first {result['baseline_s']:g} s, at rest): "
            f"{result['baselines']} of {len(result['videos'])} babies have one")
    return line + (f"; refused for {', '.join(f'{v} ({why})' for v, why in refused.items())}." if refused else ".")


def video_report_md(result: Mapping[str, Any], model: str, data: str) -> str:
    """The Markdown report: every figure names its data, its protocol and its windows."""
    frames, pipp, epochs = result["frames"], result["pipp_r"], result["nfcs_p3"]
    lines = [
        "# Observation windows on synthetic video", "",
        (f"Model `{model}`, videos `{data}` ({len(result['videos'])} babies). Protocol: "
        f"{result['protocol']}. Windows start every {result['stride_s']:g} s (overlapping: descriptive "
        "figures). **Synthetic data: this validates the pipeline, it says nothing clinical.**"), "",
        _baseline_line(result), "",
        (f"## Per frame ({frames['frames']} frames, {frames['visible']} with the face in view; the model read "
        f"a face on {frames['read_of_visible']:.1%} of those and on {frames['read_of_not_visible']:.1%} of "
        "the others)"), "",
        "| action | AUC |", "|---|---|",
        *(f"| {a.replace('_', ' ')} | {_f(v)} |" for a, v in frames["action_auc"].items()),
        f"| **mean** | **{_f(frames['mean_action_auc'])}** |", "",
        "## PIPP-R facial items (30-s windows, 0-3 by the share of readable frames)", "",
        _coverage_line(pipp, "windows") + ".", "",
        "| item | windows | exact agreement | weighted kappa |", "|---|---|---|---|",
        *(f"| {k.replace('_', ' ')} | {m['n']} | {_f(m['exact'])} | {_f(m['kappa'])} |"
          for k, m in pipp["items"].items()),
        f"| **pooled** | {pipp['n']} | {_f(pipp['exact'])} | **{_f(pipp['kappa'])}** |", "",
        "## NFCS-P-3 epochs (10 s, 0-30)", "",
        _coverage_line(epochs, "epochs") + ".", "",
        (f"ICC(2,1) **{_f(epochs['icc'])}**, MAE {_f(epochs['mae'], 2)} points, pain (>= 9) agreement "
        f"{_f(epochs['pain_agreement'])} over {epochs['n']} epochs both could score."), "",
    ]
    return "\n".join(lines)
