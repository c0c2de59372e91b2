"""Opening hours as a calendar: whether customer service is open now, and when it opens next.

Pure functions over (weekday, opens, closes) rows in local time, so the edges (midnight, the
week's end, no hours at all) are tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

Hours = Iterable[tuple[int, time, time]]


def is_open(now: datetime, hours: Hours) -> bool:
    """True inside any of the hours; with no hours configured the service counts as open
    (nothing says otherwise, and whether an agent is online still decides)."""
    rows = list(hours)
    if not rows:
        return True
    moment = now.time()
    return any(day == now.weekday() and opens <= moment < closes for day, opens, closes in rows)


def next_opening(now: datetime, hours: Hours) -> datetime | None:
    """When the hours next begin after `now` (in `now`'s time zone); None without hours.

    If the service is open now, that is the next day's (or week's) opening, not now.
    """
    rows = list(hours)
    if not rows:
        return None
    for ahead in range(8):
        day = (now + timedelta(days=ahead)).date()
        starts = sorted(
            datetime.combine(day, opens, tzinfo=now.tzinfo)
            for weekday, opens, _ in rows
            if weekday == day.weekday()
        )
        for start in starts:
            if start > now:
                return start
    return None
