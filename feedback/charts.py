"""Bar charts as plain geometry for a server-rendered SVG template: no script, no third party."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 36
MAX_X_LABELS = 10


def format_count(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, secs = divmod(seconds, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


def format_period(start, period: str) -> str:
    """A report period in the reader's language: a day's date, "week 49, 2026", "December 2026"."""
    if period == "week":
        year, week, _day = start.isocalendar()
        return gettext("week %(week)d, %(year)d") % {"week": week, "year": year}
    if period == "month":
        return date_format(start, "F Y")
    return date_format(start, "SHORT_DATE_FORMAT")


def format_share(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)} %"


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def bar_chart(
    *,
    title: str,
    rows: list[dict[str, Any]],
    series: list[tuple[str, str]],
    fmt: Callable[[Any], str] = format_count,
    max_value: float | None = None,
) -> dict[str, Any]:
    """Grouped bars: one group per row (its `label`), one bar per (key, name) in `series`."""
    values = [row.get(key) for row in rows for key, _ in series]
    top = max_value or _nice_ceiling(max([v for v in values if v is not None] or [0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(rows), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    bars, labels = [], []
    every = max(1, math.ceil(len(rows) / MAX_X_LABELS))
    for i, row in enumerate(rows):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, (key, name) in enumerate(series):
            value = row.get(key)
            height = 0 if value is None else plot_h * min(value / top, 1)
            bars.append(
                {
                    "x": round(x0 + j * bar_w, 1),
                    "y": round(TOP + plot_h - height, 1),
                    "w": round(max(bar_w - 1, 1), 1),
                    "h": round(height, 1),
                    "series": j,
                    "title": f"{row['label']}: {name} {fmt(value)}",
                }
            )
        if i % every == 0:
            labels.append(
                {"x": round(x0 + group_w * 0.4, 1), "text": row.get("short", row["label"])}
            )
    ticks = [{"y": round(TOP + plot_h - plot_h * f, 1), "text": fmt(top * f)} for f in (0, 0.5, 1)]
    return {
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "base": TOP + plot_h,
        "label_y": HEIGHT - 12,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "legend": [{"series": j, "name": name} for j, (_, name) in enumerate(series)],
    }
