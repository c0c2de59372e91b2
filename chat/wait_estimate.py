"""How long a waiting visitor may expect to wait: an estimate, never a promise.

Pure functions of numbers read elsewhere (chat/selectors.py reads them once per queue change),
so the rules can be tested at their edges without a database.

The model: the chats taken in the last hour waited, on average, one *turn* each before an
agent was free to take them. With `agents` online, that many chats are taken per turn, so the
visitor at `position` waits about ceil(position / agents) turns. With fewer than MIN_SAMPLES
chats taken in the hour the average says little: the widget then shows a wide range built on
a default turn, or "a few minutes" for those who will be taken in the first turn. Nobody
online, or outside the opening hours, gives no estimate at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Fewer chats taken in the last hour than this and the data is too thin for one number.
MIN_SAMPLES = 3
#: What one turn is assumed to last when the data is thin.
DEFAULT_TURN_SECONDS = 180
#: A turn is never taken as shorter than this (idle agents) or longer (a stalled hour).
MIN_TURN_SECONDS = 30
MAX_TURN_SECONDS = 15 * 60
#: The thin-data range: from this share of the default turns to this multiple of them.
RANGE_LOW = 0.5
RANGE_HIGH = 2.0
#: Longer estimates than this are not shown as a number: "more than an hour".
MAX_MINUTES = 60


@dataclass(frozen=True)
class Basis:
    """What the estimate is made of: now, and the last hour."""

    agents_online: int
    open_now: bool
    taken_last_hour: int
    mean_wait_seconds: float | None


def estimate(position: int, basis: Basis) -> dict[str, Any] | None:
    """The wait of the visitor at `position` (1 = next) in one of four shapes, or None.

    `{"kind": "minutes", "minutes": n}`, `{"kind": "range", "low": a, "high": b}`,
    `{"kind": "few"}` or `{"kind": "long"}` (more than MAX_MINUTES); None when nobody can take
    the chat now (no agent online, or closed).
    """
    if position < 1 or basis.agents_online < 1 or not basis.open_now:
        return None
    turns = math.ceil(position / basis.agents_online)
    if basis.taken_last_hour < MIN_SAMPLES or basis.mean_wait_seconds is None:
        if turns == 1:
            return {"kind": "few"}
        low = max(1, round(turns * DEFAULT_TURN_SECONDS * RANGE_LOW / 60))
        high = math.ceil(turns * DEFAULT_TURN_SECONDS * RANGE_HIGH / 60)
        if low >= MAX_MINUTES:
            return {"kind": "long"}
        return {"kind": "range", "low": low, "high": min(high, MAX_MINUTES)}
    turn = min(max(basis.mean_wait_seconds, MIN_TURN_SECONDS), MAX_TURN_SECONDS)
    minutes = max(1, round(turns * turn / 60))
    if minutes > MAX_MINUTES:
        return {"kind": "long"}
    return {"kind": "minutes", "minutes": minutes}
