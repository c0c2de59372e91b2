"""The queue: who is waiting, who is ahead of whom, what a wait estimate is made of, and the
announcement that tells everyone after the queue changed.

Reads only, apart from `queue_changed` (an event after commit): the writes that change the
queue (chat/services.py, dsr/data_requests.py, agents' presence) call it.

Announcements are coalesced per process: a write that runs as a unit of an event loop
(`realtime/units.py`) asks that loop's `Coalesced` announcement of the queue, which reads and
sends the queue at once when it has been quiet, and otherwise at most once per
ANNOUNCE_INTERVAL_SECONDS, always after the last change it was asked about (the trailing edge:
the last state is always the one announced). A burst of 200 new chats a second is a few
announcements a second, not 200 reads of the queue each fanned out to every console and every
waiting visitor. Writes outside any event loop (views, tasks, commands) announce at once, as
they are rare.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.utils import timezone

from realtime import events, units

from . import hooks, opening, wait_estimate
from .models import Conversation, OpeningHours

#: The sockets of waiting visitors: they alone hear the queue's announcements.
WAITING_GROUP = "queue.waiting"
#: How many of the first waiting chats a queue announcement carries (position and estimate).
QUEUE_ANNOUNCED = 100
#: The window of recent claims the wait estimate learns from.
WAIT_BASIS_WINDOW = timedelta(hours=1)
#: A process announces the queue at most once per this many seconds (the last change always).
ANNOUNCE_INTERVAL_SECONDS = 0.25


def waiting_conversations() -> QuerySet[Conversation]:
    """The queue, first in line first: the one place that says who is ahead of whom.

    Everything about queue positions starts here; a chat's place counts the chats of its own
    topic only (each topic is its own line, served by its own agents).
    """
    return Conversation.objects.filter(
        status=Conversation.Status.WAITING, left_offline=False
    ).order_by("created_at", "id")


def queue_position(conversation: Conversation) -> int | None:
    """1 for the next chat of its topic to be taken; None when the conversation is not
    waiting. One query."""
    if conversation.status != Conversation.Status.WAITING or conversation.left_offline:
        return None
    topic_id = conversation.topic_id
    same_line = Q(topic__isnull=True) if topic_id is None else Q(topic_id=topic_id)
    ahead = (
        waiting_conversations()
        .filter(same_line)
        .filter(
            Q(created_at__lt=conversation.created_at)
            | Q(created_at=conversation.created_at, pk__lt=conversation.pk)
        )
    )
    return ahead.count() + 1


def opening_hours_rows() -> list[tuple[int, Any, Any]]:
    return list(OpeningHours.objects.values_list("weekday", "opens", "closes"))


def taken_since(since: datetime) -> QuerySet[Conversation]:
    """The chats an agent took since `since`, through their own index (`conversation_claimed`).
    Messages left offline wait for the opening hours, not for a free agent: not counted."""
    return Conversation.objects.filter(claimed_at__gte=since, left_offline=False)


def wait_basis(now: datetime | None = None) -> wait_estimate.Basis:
    """What the wait estimate is made of: agents online and opening hours now, and how fast
    the chats taken in the last hour were taken. Three queries, whatever the queue's length."""
    now = now or timezone.now()
    taken = taken_since(now - WAIT_BASIS_WINDOW).aggregate(
        n=Count("pk"), mean=Avg(F("claimed_at") - F("created_at"))
    )
    mean = taken["mean"]
    return wait_estimate.Basis(
        agents_online=hooks.agents_online_count(),
        open_now=opening.is_open(timezone.localtime(now), opening_hours_rows()),
        taken_last_hour=taken["n"],
        mean_wait_seconds=mean.total_seconds() if mean is not None else None,
    )


def answer_expected(now: datetime | None = None) -> dict[str, Any]:
    """When a message left now can expect an answer: `open_now` (within the opening hours, or
    none are set) and `next_opening` ({weekday, time: "HH:MM"}, local; None without hours)."""
    local = timezone.localtime(now or timezone.now())
    rows = opening_hours_rows()
    start = opening.next_opening(local, rows)
    return {
        "open_now": opening.is_open(local, rows),
        "next_opening": {"weekday": start.weekday(), "time": start.strftime("%H:%M")}
        if start
        else None,
    }


def queue_estimates(*, limit: int = QUEUE_ANNOUNCED) -> list[dict[str, Any]]:
    """The first `limit` waiting chats with their position (in their topic's line) and
    estimate, in queue order. Every chat ahead of one in its topic is ahead of it overall too,
    so the first `limit` hold all that their positions count."""
    basis = wait_basis()
    rows = waiting_conversations().values_list("pk", "topic_id")[:limit]
    line: dict[int | None, int] = {}
    out = []
    for pk, topic_id in rows:
        line[topic_id] = n = line.get(topic_id, 0) + 1
        out.append({"id": pk, "position": n, "estimate": wait_estimate.estimate(n, basis)})
    return out


def queue_status(conversation: Conversation) -> dict[str, Any] | None:
    """The waiting visitor's own place and estimate (for a welcome); None when not waiting."""
    position = queue_position(conversation)
    if position is None:
        return None
    return {"position": position, "estimate": wait_estimate.estimate(position, wait_basis())}


def queue_changed() -> None:
    """Announces every waiting chat's place and wait estimate once the transaction commits.

    Called by each write that puts a chat into the queue or takes one out, and when the number
    of agents online changes: the queue is read once per announcement, never per message, and
    inside a unit of an event loop the announcements of a burst of changes are coalesced
    (`realtime.units.Coalesced`). Consoles get the list (`queue.changed`); each waiting
    visitor's socket picks its own line.
    """
    units.coalesced_request(QUEUE_ANNOUNCEMENT)


def queue_announcement() -> dict[str, Any]:
    """The `queue.changed` event: the queue as it is now."""
    return {"type": "queue.changed", "items": queue_estimates()}


def _queue_announced() -> list[tuple[str, dict[str, Any]]]:
    announcement = queue_announcement()
    return [(events.AGENTS_GROUP, announcement), (WAITING_GROUP, announcement)]


#: The last announcement's items seen in this process, and those items by chat id.
_indexed: tuple[list[dict[str, Any]], dict[int, dict[str, Any]]] | None = None


def announced_item(items: list[dict[str, Any]], conversation_id: int) -> dict[str, Any] | None:
    """One chat's item (position, estimate) in a queue announcement's `items`, or None.

    Every waiting visitor's socket in the process gets the same decoded list (the layer
    decodes a payload once), so it is indexed once, not searched by each socket: with 400
    waiting sockets that was 40,000 comparisons per announcement.
    """
    global _indexed
    if _indexed is None or _indexed[0] is not items:
        _indexed = (items, {item["id"]: item for item in items})
    return _indexed[1].get(conversation_id)


#: The name of the queue's coalesced announcement (`realtime.units.coalesced`).
QUEUE_ANNOUNCEMENT = "queue"
units.coalesced(QUEUE_ANNOUNCEMENT, _queue_announced, ANNOUNCE_INTERVAL_SECONDS)
