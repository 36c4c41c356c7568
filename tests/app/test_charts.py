"""Charts: counts per local day and hour, and SVG that parses and says what it shows."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from neopain.app.core.charts import MAX_DAYS, bars_by_day, bars_by_hour, stacked_bar_svg

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_hours_and_days_follow_the_ward_time_zone() -> None:
    # 01:30 UTC on 2 March is 22:30 on 1 March in São Paulo (UTC-3).
    events = [
        (datetime(2026, 3, 2, 1, 30, tzinfo=UTC), "pain"),
        (datetime(2026, 3, 2, 14, 0, tzinfo=UTC), "no_pain"),
    ]
    hours = bars_by_hour(events, SAO_PAULO)
    assert len(hours) == 24
    assert (hours[22].pain, hours[22].no_pain) == (1, 0)
    assert (hours[11].pain, hours[11].no_pain) == (0, 1)
    days = bars_by_day(events, SAO_PAULO)
    assert [(d.key, d.pain, d.no_pain) for d in days] == [("01/03", 1, 0), ("02/03", 0, 1)]


def test_days_without_records_appear_and_only_the_last_month_is_kept() -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    events = [(start, "pain"), (start + timedelta(days=2), "pain")]
    assert [d.pain for d in bars_by_day(events, ZoneInfo("UTC"))] == [1, 0, 1]
    many = [(start + timedelta(days=i), "no_pain") for i in range(60)]
    assert len(bars_by_day(many, ZoneInfo("UTC"))) == MAX_DAYS


def test_svg_has_one_rect_per_nonzero_segment_and_titles() -> None:
    events = [(datetime(2026, 5, 1, 8, tzinfo=UTC), "pain")] * 3 + [
        (datetime(2026, 5, 1, 9, tzinfo=UTC), "no_pain")
    ]
    svg = ET.fromstring(stacked_bar_svg(bars_by_hour(events, ZoneInfo("UTC")), "By <hour>"))
    rects = [e for e in svg.iter() if e.tag.endswith("rect")]
    assert sorted(r.get("class") for r in rects) == ["bar-no_pain", "bar-pain"]
    pain = next(r for r in rects if r.get("class") == "bar-pain")
    no_pain = next(r for r in rects if r.get("class") == "bar-no_pain")
    assert float(pain.get("height")) == 3 * float(no_pain.get("height"))
    assert svg.get("aria-label") == "By <hour>"  # escaped in the markup, intact once parsed


def test_empty_chart_says_so() -> None:
    assert "no records yet" in stacked_bar_svg([], "empty")
