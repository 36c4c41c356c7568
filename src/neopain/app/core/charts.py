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
