"""A timeline as a self-contained SVG drawn by our own code (no chart library): one strip per series of
0-1 values over time, gaps drawn as gaps (a missing value or a hole in time ends a line), and shaded
spans (observation windows) labelled across every strip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 960
LEFT, RIGHT, TOP, BOTTOM = 176, 12, 46, 30
STRIP_H, STRIP_GAP = 30, 6
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass(frozen=True)
class Series:
    """A 0-1 value over time; None (or NaN) where it was not read."""

    label: str
    t: Sequence[float]
    v: Sequence[float | None]
    emphasis: bool = False  # drawn bold: what the instrument reads
    threshold: float | None = 0.5  # a dashed line at this value


@dataclass(frozen=True)
class Shade:
    """A span [start, end) shaded behind the strips; ``kind`` picks its fill (a CSS class)."""

    start: float
    end: float
    label: str
    sublabel: str
    title: str  # the tooltip: the span in full
    kind: str = "scored"


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def runs(t: Sequence[float], v: Sequence[float | None], max_step_s: float) -> list[list[tuple[float, float]]]:
    """The stretches of consecutive read values: a missing value or a step over ``max_step_s`` ends one."""
    out: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    last_t: float | None = None
    for time, value in zip(t, v, strict=True):
        gap = last_t is not None and time - last_t > max_step_s
        if _missing(value) or gap:
            if current:
                out.append(current)
            current = []
        if not _missing(value):
            current.append((time, float(value)))  # type: ignore[arg-type]
        last_t = time
    if current:
        out.append(current)
    return out


def _tick_step(duration_s: float) -> int:
    return next((s for s in TICK_STEPS if duration_s / s <= 10), TICK_STEPS[-1])


class _Frame:
    """The plot's geometry: seconds -> x, strip k and a value -> y."""

    def __init__(self, duration_s: float, strips: int) -> None:
        self.duration = max(duration_s, 1e-9)
        self.plot_w = WIDTH - LEFT - RIGHT
        self.height = TOP + strips * (STRIP_H + STRIP_GAP) + BOTTOM
        self.bottom = TOP + strips * (STRIP_H + STRIP_GAP) - STRIP_GAP

    def x(self, t: float) -> float:
        return LEFT + self.plot_w * min(max(t, 0.0), self.duration) / self.duration

    def y(self, strip: int, value: float) -> float:
        top = TOP + strip * (STRIP_H + STRIP_GAP)
        return top + STRIP_H * (1.0 - min(max(value, 0.0), 1.0))


def _shade(frame: _Frame, shade: Shade, alternate: bool) -> str:
    x0, x1 = frame.x(shade.start), frame.x(shade.end)
    mid = (x0 + x1) / 2
    kind = escape(shade.kind) + (" alt" if alternate else "")
    return (
        f'<g class="window {kind}"><title>{escape(shade.title)}</title>'
        f'<rect x="{x0:.1f}" y="{TOP - 34}" width="{max(x1 - x0, 0.5):.1f}" '
        f'height="{frame.bottom - TOP + 34:.1f}"/>'
        f'<text x="{mid:.1f}" y="{TOP - 21}" text-anchor="middle" class="wlabel">{escape(shade.label)}</text>'
        f'<text x="{mid:.1f}" y="{TOP - 8}" text-anchor="middle" class="wsub">{escape(shade.sublabel)}</text>'
        "</g>"
    )


def _strip(frame: _Frame, k: int, series: Series, max_step_s: float) -> list[str]:
    top = TOP + k * (STRIP_H + STRIP_GAP)
    cls = "series read" if series.emphasis else "series"
    parts = [(f'<text x="{LEFT - 6}" y="{top + STRIP_H / 2 + 4:.1f}" text-anchor="end" class="{cls}">'
             f"{escape(series.label)}</text>"),
             f'<rect x="{LEFT}" y="{top}" width="{frame.plot_w}" height="{STRIP_H}" class="strip"/>']
    if series.threshold is not None:
        y = frame.y(k, series.threshold)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + frame.plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                     'class="threshold"/>')
    for run in runs(series.t, series.v, max_step_s):
        if len(run) == 1:
            t, v = run[0]
            parts.append(f'<circle cx="{frame.x(t):.1f}" cy="{frame.y(k, v):.1f}" r="1.6" class="{cls}"/>')
            continue
        points = " ".join(f"{frame.x(t):.1f},{frame.y(k, v):.1f}" for t, v in run)
        parts.append(f'<polyline points="{points}" class="{cls}"/>')
    return parts


def _axis(frame: _Frame) -> list[str]:
    step = _tick_step(frame.duration)
    parts = []
    for i in range(int(frame.duration // step) + 1):
        x = frame.x(i * step)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom}" y2="{frame.bottom + 4}" '
                     'class="axis"/>')
        parts.append(f'<text x="{x:.1f}" y="{frame.bottom + 16}" text-anchor="middle" class="tick">'
                     f"{i * step} s</text>")
    return parts


STYLE = (
    "<style>.strip{fill:none;stroke:#ccc}.threshold{stroke:#999;stroke-dasharray:3 3}"
    "polyline.series{fill:none;stroke:#1565c0;stroke-width:1.2}polyline.read{stroke:#c62828;stroke-width:1.8}"
    "circle.series{fill:#1565c0}circle.read{fill:#c62828}text{font:11px sans-serif}"
    "text.read{font-weight:bold}"
    ".window rect{fill:#e3f2fd;stroke:#90caf9}.window.alt rect{fill:#cfe6fa}"
    ".window.not-scorable rect{fill:#eeeeee;stroke:#bdbdbd}.window.not-scorable.alt rect{fill:#e0e0e0}"
    ".wlabel{font-weight:bold}.axis{stroke:#666}</style>"
)


def timeline_svg(duration_s: float, series: Sequence[Series], shades: Sequence[Shade], title: str,
                 max_step_s: float) -> str:
    """The SVG: shaded spans first (behind), then a strip per series, then the time axis."""
    frame = _Frame(duration_s, len(series))
    parts = [(f'<svg class="timeline" viewBox="0 0 {WIDTH} {frame.height}" width="{WIDTH}" '
             f'height="{frame.height}" '
             f'role="img" xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
             f"<title>{escape(title)}</title>{STYLE}")]
    parts += [_shade(frame, s, k % 2 == 1) for k, s in enumerate(shades)]  # neighbours told apart
    for k, one in enumerate(series):
        parts += _strip(frame, k, one, max_step_s)
    parts += _axis(frame)
    parts.append("</svg>")
    return "".join(parts)
