"""What the pages show of observations: the instruments the camera offers, a window's timeline (SVG), the
totals over time per instrument (SVG charts), and how a saved observation reads in a list."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np

from neopain.app.core.charts import ScorePoint, score_chart_svg
from neopain.app.models import Observation
from neopain.app.services.observations import readings_of, reads, window_length
from neopain.inference import Series, Shade, timeline_svg
from neopain.scales.instruments import INSTRUMENTS, instrument
from neopain.scales.nfcs import ACTIONS
from neopain.scales.windows import tracks

# The CSP refuses inline styles: app.css styles svg.timeline instead of the SVG's own <style>.
_STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


@dataclass(frozen=True)
class Choice:
    """An instrument the camera offers: its window and the actions its live timeline draws."""

    name: str
    title: str
    window_s: float
    reads: list[str]


def choices(version: str | None, baseline_s: float, override: float | None) -> list[Choice]:
    if version is None:
        return []
    return [Choice(i.name, i.title, window_length(i, baseline_s, override), reads(i, version))
            for i in INSTRUMENTS.values()]


def _said(action: str) -> str:
    return action.replace("_", " ")


def timeline_of(obs: Observation) -> str:
    """The window's frames as an SVG: the face found, each action's 0.5-s median track (bold: what the
    instrument reads), the window shaded with its outcome."""
    inside = [(e, r) for e, r in zip(obs.timeline, readings_of(obs), strict=True)
              if obs.window_start <= r.t < obs.window_end]
    t = [r.t - obs.window_start for _, r in inside]
    smooth = tracks([r for _, r in inside]) if inside else {}
    read = set(reads(instrument(obs.instrument or ""), obs.nfcs_version)) if obs.instrument else set()
    series = [Series("face read", t, [1.0 if r.face else None for _, r in inside], threshold=None)]
    for action in ACTIONS:
        p = smooth[action].p if action in smooth else np.full(len(t), np.nan)
        series.append(Series(_said(action), t, [float(v) for v in p], emphasis=action in read))
    faces = sum(1 for _, r in inside if r.face)
    outcome = "scorable" if obs.scorable else "not scorable"
    shade = Shade(0.0, obs.window_s, f"{obs.instrument}: {outcome}",
                  f"{faces} of {len(inside)} frames with a face",
                  f"{obs.window_start:g}-{obs.window_end:g} s", "scored" if obs.scorable else "not-scorable")
    steps = [b - a for a, b in pairwise(t)]
    step = 3 * statistics.median(steps) if steps else 1.0
    svg = timeline_svg(obs.window_s, series, [shade], "the window's frames: face found and each NFCS action",
                       max_step_s=step)
    return _STYLE.sub("", svg, count=1)


def outcome(obs: Observation) -> str:
    """A saved observation in a few words: its total, or why it has none."""
    if obs.total is not None:
        return f"{obs.total}" + (f" ({obs.interpretation})" if obs.interpretation else "")
    if not obs.scorable and any(v.get("source") == "model" and v.get("value") is None
                                for v in (obs.items or {}).values()):
        return "not scorable"
    missing = ", ".join(m.replace("_", " ") for m in obs.missing or [])
    return f"no total: {missing} not entered" if missing else "no total"


@dataclass(frozen=True)
class ScoreChart:
    instrument: str
    title: str
    svg: str


def score_charts(observations: Sequence[Observation], tz: ZoneInfo) -> list[ScoreChart]:
    """One chart per instrument of the totals over time (observations without a total left out)."""
    by_instrument: dict[str, list[ScorePoint]] = defaultdict(list)
    for obs in sorted(observations, key=lambda o: o.started_at):
        if obs.total is not None and obs.instrument:
            by_instrument[obs.instrument].append(ScorePoint(obs.started_at, obs.total, obs.pain))
    out = []
    for name, points in by_instrument.items():
        inst = instrument(name)
        pain_from = next((b.low for b in inst.bands if b.pain), None)
        svg = score_chart_svg(points, f"{inst.title}: totals over time", inst.max_total, pain_from, tz)
        out.append(ScoreChart(name, inst.title, svg))
    return out
