"""Anonymous aggregates of chats: counts and duration histograms, and the numbers drawn from them.

Durations are never kept one by one. Each goes into a fixed bucket; a percentile is the upper
edge of the bucket that holds the rank ("90 % waited at most 45 s"). Live rows and stored
aggregates go through exactly the same buckets, so a report computed from either is the same,
before and after the retention purge deletes the chats behind it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

# Upper bucket edges in seconds: fine where waits usually fall, coarser for long chats.
# Changing them makes stored histograms unreadable: add new edges only with a data migration.
BUCKET_EDGES: tuple[int, ...] = (
    *range(5, 61, 5),
    *range(70, 181, 10),
    *range(210, 601, 30),
    *range(660, 1801, 60),
    *range(2100, 3601, 300),
    *range(4500, 14401, 900),
    *range(18000, 86401, 3600),
    172800,
    604800,
)


def bucket_index(seconds: float) -> int:
    """The bucket of a duration; negatives count as 0, anything beyond the last edge in it."""
    return min(bisect_left(BUCKET_EDGES, max(0.0, seconds)), len(BUCKET_EDGES) - 1)


def hist_add(hist: list[int], seconds: float) -> None:
    index = bucket_index(seconds)
    if len(hist) <= index:
        hist.extend([0] * (index + 1 - len(hist)))
    hist[index] += 1


def hist_merge(a: list[int], b: list[int]) -> list[int]:
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    return [x + (shorter[i] if i < len(shorter) else 0) for i, x in enumerate(longer)]


def hist_percentile(hist: list[int], p: float) -> int | None:
    """Nearest-rank percentile as the upper edge of its bucket, in seconds; None when empty."""
    total = sum(hist)
    if not total:
        return None
    rank = max(1, math.ceil(p * total))
    running = 0
    for index, count in enumerate(hist):
        running += count
        if running >= rank:
            return BUCKET_EDGES[index]
    return BUCKET_EDGES[len(hist) - 1]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


@dataclass
class Agg:
    """What is known of a set of chats without knowing any one of them."""

    chats: int = 0
    taken: int = 0
    closed: int = 0
    wait_hist: list[int] = field(default_factory=list)
    first_response_hist: list[int] = field(default_factory=list)
    duration_hist: list[int] = field(default_factory=list)
    feedback_answers: int = 0
    service_yes: int = 0
    service_no: int = 0
    channel_yes: int = 0
    channel_no: int = 0

    COUNTERS = (
        "chats",
        "taken",
        "closed",
        "feedback_answers",
        "service_yes",
        "service_no",
        "channel_yes",
        "channel_no",
    )
    HISTOGRAMS = ("wait_hist", "first_response_hist", "duration_hist")

    def add_chat(
        self,
        *,
        created_at: datetime,
        claimed_at: datetime | None,
        first_response_at: datetime | None,
        closed_at: datetime | None,
        feedback: tuple[bool | None, bool | None] | None,
    ) -> None:
        """Counts one conversation (and its answer, if any)."""
        self.chats += 1
        wait = _seconds(created_at, claimed_at)
        if wait is not None:
            self.taken += 1
            hist_add(self.wait_hist, wait)
        first = _seconds(created_at, first_response_at)
        if first is not None:
            hist_add(self.first_response_hist, first)
        length = _seconds(created_at, closed_at)
        if length is not None:
            self.closed += 1
            hist_add(self.duration_hist, length)
        if feedback is not None:
            service, channel = feedback
            self.feedback_answers += 1
            self.service_yes += service is True
            self.service_no += service is False
            self.channel_yes += channel is True
            self.channel_no += channel is False

    def merge(self, other: Agg) -> Agg:
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in self.HISTOGRAMS:
            setattr(self, name, hist_merge(getattr(self, name), getattr(other, name)))
        return self

    def as_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: Any) -> Agg:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(agg: Agg) -> dict[str, Any]:
    """The report's numbers for one set of chats; durations in seconds, shares 0..1 or None."""
    return {
        "chats": agg.chats,
        "taken": agg.taken,
        "closed": agg.closed,
        "wait_median": hist_percentile(agg.wait_hist, 0.5),
        "wait_p90": hist_percentile(agg.wait_hist, 0.9),
        "first_response_median": hist_percentile(agg.first_response_hist, 0.5),
        "first_response_p90": hist_percentile(agg.first_response_hist, 0.9),
        "duration_median": hist_percentile(agg.duration_hist, 0.5),
        "duration_p90": hist_percentile(agg.duration_hist, 0.9),
        "feedback_answers": agg.feedback_answers,
        "service_yes_share": _share(agg.service_yes, agg.service_yes + agg.service_no),
        "channel_yes_share": _share(agg.channel_yes, agg.channel_yes + agg.channel_no),
        "service_answers": agg.service_yes + agg.service_no,
        "channel_answers": agg.channel_yes + agg.channel_no,
        "response_rate": _share(agg.feedback_answers, agg.closed),
    }
