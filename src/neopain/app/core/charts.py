"""Pain / no-pain counts as stacked bar charts, drawn as SVG by our own code (no chart library, no CDN)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

COLOURS = {"pain": "#c62828", "no_pain": "#2e7d32"}
MAX_DAYS = 31
MAX_BAR_WIDTH = 36.0  # a lone bar stays a bar, not a block


@dataclass(frozen=True)
class Bar:
    key: str  # the x label
    pain: int
    no_pain: int


def bars_by_day(events: Iterable[tuple[datetime, str]], tz: ZoneInfo) -> list[Bar]:
    """One bar per calendar day (local time) from the first to the last event, the last 31 at most."""
    counts: Counter[tuple[date, str]] = Counter()
    days: set[date] = set()
    for when, label in events:
        day = when.astimezone(tz).date()
        counts[(day, label)] += 1
        days.add(day)
    if not days:
        return []
    last = max(days)
    first = max(min(days), last - timedelta(days=MAX_DAYS - 1))
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [Bar(d.strftime("%d/%m"), counts[(d, "pain")], counts[(d, "no_pain")]) for d in span]


def bars_by_hour(events: Iterable[tuple[datetime, str]], tz: ZoneInfo) -> list[Bar]:
    """24 bars, one per hour of the day (local time), all days together."""
    counts: Counter[tuple[int, str]] = Counter()
    for when, label in events:
        counts[(when.astimezone(tz).hour, label)] += 1
    return [Bar(f"{h:02d}", counts[(h, "pain")], counts[(h, "no_pain")]) for h in range(24)]


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if value <= step * 4:
            return step * 4
    return value


def stacked_bar_svg(bars: Sequence[Bar], title: str, label_every: int = 1) -> str:
    """A self-contained, accessible SVG (role=img, a title and a text summary of each bar)."""
    width, height, left, bottom, top = 360, 200, 30, 28, 12
    plot_w, plot_h = width - left - 6, height - bottom - top
    peak = _nice_max(max((b.pain + b.no_pain for b in bars), default=0) or 1)
    slot = plot_w / max(len(bars), 1)
    opening = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )
    parts = [opening]
    for tick in range(5):
        value = peak * tick // 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value}</text>')
    for i, bar in enumerate(bars):
        w = min(slot * 0.7, MAX_BAR_WIDTH)
        x = left + i * slot + (slot - w) / 2
        base = top + plot_h
        for label, count in (("no_pain", bar.no_pain), ("pain", bar.pain)):
            if count:
                h = plot_h * count / peak
                base -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{COLOURS[label]}" '
                    f'class="bar-{label}"><title>{escape(bar.key)}: {count} {label.replace("_", " ")}</title></rect>'
                )
        if i % label_every == 0:
            cx = left + i * slot + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{height - 10}" text-anchor="middle" class="tick">'
                f"{escape(bar.key)}</text>"
            )
    if not bars:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no records yet</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class ScorePoint:
    when: datetime
    total: int
    pain: bool | None


def _time_x(points: Sequence[ScorePoint], left: float, width: float) -> list[float]:
    first, last = points[0].when, points[-1].when
    span = (last - first).total_seconds()
    if span <= 0:
        return [left + width / 2] * len(points)
    return [left + width * (p.when - first).total_seconds() / span for p in points]


def _hline(value_y: float, x0: float, x1: float, cls: str, title: str = "") -> str:
    inner = f"<title>{escape(title)}</title>" if title else ""
    return f'<line x1="{x0}" x2="{x1}" y1="{value_y:.1f}" y2="{value_y:.1f}" class="{cls}">{inner}</line>'


def score_chart_svg(points: Sequence[ScorePoint], title: str, max_total: int, pain_from: int | None,
                    tz: ZoneInfo) -> str:
    """An instrument's totals over time (oldest first): points joined by a line, a dashed line where its
    interpretation starts reading pain, the first and last dates under the axis."""
    width, height, left, right, bottom, top = 360, 180, 30, 12, 28, 12
    plot_w, plot_h = width - left - right, height - bottom - top
    label = escape(title)
    parts = [(f'<svg class="chart score-chart" viewBox="0 0 {width} {height}" role="img" '
              f'xmlns="http://www.w3.org/2000/svg" aria-label="{label}"><title>{label}</title>')]

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / max(max_total, 1)

    for value in sorted({0, max_total // 2, max_total}):
        parts.append(_hline(y(value), left, width - right, "grid"))
        parts.append(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" '
                     f'class="tick">{value}</text>')
    if pain_from is not None:
        parts.append(_hline(y(pain_from), left, width - right, "pain-line", f"pain from {pain_from}"))
    xs = _time_x(points, left + 6, plot_w - 12)
    if len(points) > 1:
        line = " ".join(f"{x:.1f},{y(p.total):.1f}" for x, p in zip(xs, points, strict=True))
        parts.append(f'<polyline points="{line}" class="score-line"/>')
    for x, p in zip(xs, points, strict=True):
        kind = "pain" if p.pain else "no_pain"
        when = escape(p.when.astimezone(tz).strftime("%d/%m %H:%M"))
        parts.append(f'<circle cx="{x:.1f}" cy="{y(p.total):.1f}" r="4" fill="{COLOURS[kind]}" '
                     f'class="score-{kind}"><title>{when}: {p.total}</title></circle>')
    ends = [(left, points[0], "start"), (width - right, points[-1], "end")] if points else []
    for x, p, anchor in ends[: 1 if len(points) == 1 else 2]:
        when = p.when.astimezone(tz).strftime("%d/%m %H:%M")
        parts.append(f'<text x="{x}" y="{height - 10}" text-anchor="{anchor}" class="tick">{when}</text>')
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no scores yet</text>')
    parts.append("</svg>")
    return "".join(parts)
