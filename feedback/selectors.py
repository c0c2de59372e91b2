"""Reads: one conversation's feedback, and the director's report over stored and live data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from chat import hooks
from chat.models import Conversation, Participation, Tag, Topic, WrapUpReason
from chat.retention_period import retention_cutoff
from chat.services import display_name

from .aggregates import Agg, metrics
from .models import DailyStat, Feedback, FoldedDay

PERIODS = ("day", "week", "month")
UNASSIGNED = "-"


def feedback_dict(feedback: Feedback) -> dict[str, Any]:
    return {
        "conversation_id": feedback.conversation_id,
        "service_satisfied": feedback.service_satisfied,
        "channel_satisfied": feedback.channel_satisfied,
        "comment": feedback.comment,
        "created_at": feedback.created_at.isoformat(),
    }


def feedback_for(conversation_id: int) -> dict[str, Any] | None:
    """The visitor's answer on a conversation, for the console; None when they gave none.

    `{"conversation_id", "service_satisfied": bool|None, "channel_satisfied": bool|None,
    "comment": str (plain text, render with textContent), "created_at": ISO 8601}`.
    """
    feedback = Feedback.objects.filter(conversation_id=conversation_id).first()
    return feedback_dict(feedback) if feedback else None


# --- days -------------------------------------------------------------------------------------


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def day_start(day: date) -> datetime:
    """Local midnight that opens `day`, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min))


def folded_days(start: date, end: date) -> set[date]:
    return set(FoldedDay.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True))


@dataclass(frozen=True)
class AgentKey:
    """Who served the chats: an account (while it exists) and the name shown in reports."""

    agent_id: int | None
    name: str

    @property
    def label(self) -> str:
        return self.name or UNASSIGNED


def live_day_aggregates(
    start: date, end: date, *, skip: set[date] | None = None
) -> dict[tuple[date, AgentKey], Agg]:
    """Aggregates of the chats still stored that began on days start..end (local time)."""
    skip = skip or set()
    rows = (
        Conversation.objects.filter(
            created_at__gte=day_start(start), created_at__lt=day_start(end + timedelta(days=1))
        )
        .values_list(
            "created_at",
            "claimed_at",
            "first_response_at",
            "closed_at",
            "assigned_agent_id",
            "feedback__id",
            "feedback__service_satisfied",
            "feedback__channel_satisfied",
        )
        .order_by()
    )
    names: dict[int, str] = {}
    out: dict[tuple[date, int | None], Agg] = defaultdict(Agg)
    for created, claimed, first, closed, agent_id, fb_id, service, channel in rows.iterator():
        day = local_day(created)
        if day in skip:
            continue
        if agent_id is not None and agent_id not in names:
            names[agent_id] = ""
        out[(day, agent_id)].add_chat(
            created_at=created,
            claimed_at=claimed,
            first_response_at=first,
            closed_at=closed,
            feedback=(service, channel) if fb_id is not None else None,
        )
    users = get_user_model().objects.filter(pk__in=list(names))
    names.update({user.pk: display_name(user) for user in users})
    return {
        (day, AgentKey(agent_id, names.get(agent_id, "") if agent_id else "")): agg
        for (day, agent_id), agg in out.items()
    }


def stored_day_aggregates(start: date, end: date) -> dict[tuple[date, AgentKey], Agg]:
    out: dict[tuple[date, AgentKey], Agg] = {}
    for row in DailyStat.objects.filter(day__gte=start, day__lte=end):
        key = (row.day, AgentKey(row.agent_id, row.agent_name))
        out[key] = out.get(key, Agg()).merge(Agg.from_row(row))
    return out


def day_aggregates(start: date, end: date) -> dict[tuple[date, AgentKey], Agg]:
    """Per day and agent: stored aggregates for folded days, live chats for every other day.

    A day is either wholly folded or wholly live, so nothing is counted twice or lost while the
    retention purge deletes a day's chats bit by bit.
    """
    folded = folded_days(start, end)
    out = live_day_aggregates(start, end, skip=folded)
    for key, agg in stored_day_aggregates(start, end).items():
        if key[0] in folded:
            out[key] = out.get(key, Agg()).merge(agg)
    return out


# --- the report -------------------------------------------------------------------------------


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_label(start: date, period: str) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return start.strftime("%Y-%m")
    return start.isoformat()


def period_short_label(start: date, period: str) -> str:
    """A label short enough for a chart axis."""
    if period == "week":
        return f"W{start.isocalendar()[1]:02d}"
    if period == "month":
        return start.strftime("%Y-%m")
    return start.strftime("%d.%m.")


def _next_period(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def report(*, start: date, end: date, period: str = "day") -> dict[str, Any]:
    """The director's report for days start..end grouped by `period` and by agent.

    Every period in the range has a row, empty or not, so charts keep an honest time axis.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")
    days = day_aggregates(start, end)
    by_period: dict[date, Agg] = {}
    cursor = period_start(start, period)
    while cursor <= end:
        by_period[cursor] = Agg()
        cursor = _next_period(cursor, period)
    by_period_agent: dict[tuple[date, AgentKey], Agg] = defaultdict(Agg)
    by_agent: dict[AgentKey, Agg] = defaultdict(Agg)
    total = Agg()
    for (day, agent), agg in sorted(days.items(), key=lambda item: item[0][0]):
        p = period_start(day, period)
        by_period[p].merge(agg)
        by_period_agent[(p, agent)].merge(agg)
        by_agent[agent].merge(agg)
        total.merge(agg)

    def agent_order(key: AgentKey) -> tuple[bool, str, int]:
        return (not key.name, key.name.lower(), key.agent_id or 0)

    return {
        "start": start,
        "end": end,
        "period": period,
        "periods": [
            {
                "start": p,
                "label": period_label(p, period),
                "short": period_short_label(p, period),
                **metrics(agg),
            }
            for p, agg in by_period.items()
        ],
        "agents": [
            {"agent": key.label, "agent_id": key.agent_id, **metrics(by_agent[key])}
            for key in sorted(by_agent, key=agent_order)
        ],
        "period_agents": [
            {
                "start": p,
                "label": period_label(p, period),
                "agent": key.label,
                "agent_id": key.agent_id,
                **metrics(agg),
            }
            for (p, key), agg in sorted(
                by_period_agent.items(), key=lambda item: (item[0][0], agent_order(item[0][1]))
            )
        ],
        "total": metrics(total),
    }


def recent_comments(*, limit: int = 300) -> list[dict[str, Any]]:
    """Comments still within retention, newest first, with the chat's reference and agent."""
    rows = (
        Feedback.objects.filter(created_at__gte=retention_cutoff())
        .exclude(comment="")
        .select_related("conversation__assigned_agent")
        .order_by("-created_at")[:limit]
    )
    return [
        {
            "created_at": fb.created_at,
            "reference": fb.conversation.reference,
            "agent": display_name(fb.conversation.assigned_agent)
            if fb.conversation.assigned_agent
            else UNASSIGNED,
            "service_satisfied": fb.service_satisfied,
            "channel_satisfied": fb.channel_satisfied,
            "comment": fb.comment,
        }
        for fb in rows
    ]


# --- breakdowns of the chats still stored: by tag, by wrap-up reason, by hour -------------------


@dataclass(frozen=True)
class Dimension:
    """A way to group chats besides their agent: the conversation's field that holds the groups
    (a foreign key or a many-to-many field) and the director's list that names them (a model with
    `name(language)`). A topic is one more entry in `DIMENSIONS`."""

    field: str
    model: type[models.Model]
    none_label: Any


DIMENSIONS: dict[str, Dimension] = {
    "topic": Dimension("topic", Topic, gettext_lazy("No topic")),
    "tag": Dimension("tags", Tag, gettext_lazy("No tag")),
    "reason": Dimension("wrap_up_reason", WrapUpReason, gettext_lazy("No reason given")),
}


def _live_chats(start: date, end: date):
    return Conversation.objects.filter(
        created_at__gte=day_start(start), created_at__lt=day_start(end + timedelta(days=1))
    ).order_by()


def dimension_report(
    *, start: date, end: date, dimension: str, language: str | None
) -> list[dict[str, Any]]:
    """The chats that began on days start..end and are still stored, grouped by `dimension`
    (see DIMENSIONS), each group with the report's numbers (waiting time, first response, chat
    length: median and 90 %, feedback). A chat with several tags counts under each of them;
    chats without one form the last group. Most chats first.

    Only stored chats: the tags and reasons go with the chats at the retention purge, and are
    not kept in the daily aggregates.
    """
    dim = DIMENSIONS[dimension]
    rows = _live_chats(start, end).values_list(
        "created_at",
        "claimed_at",
        "first_response_at",
        "closed_at",
        "feedback__id",
        "feedback__service_satisfied",
        "feedback__channel_satisfied",
        dim.field,
    )
    groups: dict[int | None, Agg] = defaultdict(Agg)
    for created, claimed, first, closed, fb_id, service, channel, key in rows.iterator():
        groups[key].add_chat(
            created_at=created,
            claimed_at=claimed,
            first_response_at=first,
            closed_at=closed,
            feedback=(service, channel) if fb_id is not None else None,
        )
    items = dim.model._default_manager.filter(pk__in=[k for k in groups if k is not None])
    names = {item.pk: item.name(language) for item in items}  # type: ignore[attr-defined]
    with translation.override(language):
        none_label = str(dim.none_label)
    out = [
        {
            "key": key,
            "name": names.get(key, "?") if key is not None else none_label,
            **metrics(agg),
        }
        for key, agg in groups.items()
    ]
    return sorted(out, key=lambda r: (r["key"] is None, -r["chats"], r["name"].lower()))


def _agent_spans(start_at: datetime, end_at: datetime, now: datetime):
    """(agent id, from, until) for each stretch an agent held a chat, within start_at..end_at.

    An agent holds a chat from its claim or the transfer to it (Participation) until the next
    transfer or the chat's end (still open: until now).
    """
    chats = (
        Conversation.objects.filter(claimed_at__isnull=False, claimed_at__lt=end_at)
        .filter(models.Q(closed_at__isnull=True) | models.Q(closed_at__gt=start_at))
        .order_by()
    )
    taken = (
        Participation.objects.filter(conversation__in=chats)
        .order_by("conversation_id", "created_at", "id")
        .values_list("conversation_id", "agent_id", "created_at")
    )
    by_chat: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for conversation_id, agent_id, at in taken.iterator():
        by_chat[conversation_id].append((agent_id, at))
    for pk, agent_id, claimed, closed in chats.values_list(
        "pk", "assigned_agent_id", "claimed_at", "closed_at"
    ).iterator():
        if claimed is None:  # filtered out above; the type does not know
            continue
        holders = by_chat.get(pk) or ([(agent_id, claimed)] if agent_id else [])
        finish = closed or now
        for i, (holder, since) in enumerate(holders):
            until = holders[i + 1][1] if i + 1 < len(holders) else finish
            since, until = max(since, claimed, start_at), min(until, finish, end_at)
            if until > since:
                yield holder, since, until


def _hour_pieces(since: datetime, until: datetime):
    """(local hour of the day, seconds) for each clock hour that since..until touches."""
    cursor = since
    while cursor < until:
        local = timezone.localtime(cursor)
        next_hour = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        piece_end = min(until, next_hour)
        yield local.hour, (piece_end - cursor).total_seconds()
        cursor = piece_end


def concurrency_by_hour(*, start: date, end: date) -> dict[str, Any]:
    """How many chats each agent held at the same time, by hour of the day (local time), over
    the days start..end, from the chats still stored: the average over those days (chat-hours
    held in that hour divided by the number of days) and the peak at any moment.

    `{"hours": [h, ...] (those with any chat), "agents": [{"agent", "agent_id", "capacity",
    "cells": [{"hour", "average", "peak", "use"}, ...]}, ...]}`, agents by name; `use` is the
    average as a share of the agent's capacity today (None without a profile).
    """
    start_at, end_at = day_start(start), day_start(end + timedelta(days=1))
    days = (end - start).days + 1
    seconds: dict[int, list[float]] = defaultdict(lambda: [0.0] * 24)
    peaks: dict[int, list[int]] = defaultdict(lambda: [0] * 24)
    changes: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for agent_id, since, until in _agent_spans(start_at, end_at, timezone.now()):
        for hour, held in _hour_pieces(since, until):
            seconds[agent_id][hour] += held
        changes[agent_id] += [(since, 1), (until, -1)]
    for agent_id, points in changes.items():
        # Ends before starts at the same moment: a chat handed on is not two at once.
        points.sort(key=lambda p: (p[0], p[1]))
        held = 0
        for (at, step), (following, _) in pairwise(points):
            held += step
            if held > 0 and following > at:
                for hour, _held in _hour_pieces(at, following):
                    peaks[agent_id][hour] = max(peaks[agent_id][hour], held)
    hours = sorted({h for row in peaks.values() for h in range(24) if row[h]})
    users = get_user_model().objects.filter(pk__in=list(seconds))
    names = {user.pk: display_name(user) for user in users}
    capacities = hooks.agent_capacities(list(seconds))

    def cell(agent_id: int, hour: int) -> dict[str, Any]:
        average = round(seconds[agent_id][hour] / (days * 3600), 2)
        capacity = capacities.get(agent_id)
        return {
            "hour": hour,
            "average": average,
            "peak": peaks[agent_id][hour],
            "use": round(average / capacity, 2) if capacity else None,
        }

    agents = [
        {
            "agent": names.get(agent_id, UNASSIGNED),
            "agent_id": agent_id,
            "capacity": capacities.get(agent_id),
            "cells": [cell(agent_id, h) for h in hours],
        }
        for agent_id in seconds
    ]
    return {"hours": hours, "agents": sorted(agents, key=lambda a: a["agent"].lower())}
