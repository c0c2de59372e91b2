"""Reads for the floor view: who is online with what load, chats per topic, waiting times, and a
live chat followed read-only. Team leads and the service director (VIEW_FLOOR) see it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from chat.models import Conversation, Message, Topic
from chat.serializers import display_name, message_dict

from . import dispatch, selectors
from .models import AgentProfile

#: Chats going on the floor lists at most (oldest first); the counts cover them all.
LIVE_LISTED = 200


def _seconds(since: datetime | None) -> int:
    return max(0, int((timezone.now() - since).total_seconds())) if since else 0


def _waited(c: Conversation) -> int:
    """How long the chat waited: until now while it waits, else until it was taken."""
    if c.status == Conversation.Status.WAITING:
        return _seconds(c.created_at)
    if c.claimed_at is None:
        return 0
    return max(0, int((c.claimed_at - c.created_at).total_seconds()))


def floor_state(language: str) -> dict[str, Any]:
    """The floor as one plain dict (the page's JSON and its first render)."""
    profiles = list(
        AgentProfile.objects.filter(user__in=selectors.console_users())
        .select_related("user")
        .order_by("user__first_name", "user__username")
    )
    load = dispatch.loads([p.user_id for p in profiles])
    agents = [
        {
            "id": p.user_id,
            "name": display_name(p.user),
            "presence": selectors.effective_presence(p),
            "load": load[p.user_id],
            "capacity": p.capacity,
        }
        for p in profiles
    ]
    agents = [a for a in agents if a["presence"] != AgentProfile.Presence.OFFLINE or a["load"]]
    going_on = Conversation.objects.filter(
        status__in=[Conversation.Status.WAITING, Conversation.Status.ACTIVE]
    )
    topics = {t.pk: t for t in Topic.objects.all()}
    default = next((t.pk for t in topics.values() if t.is_default), None)
    # Counts over every chat going on (one grouped query); the list below shows the oldest.
    waiting: Counter = Counter()
    active: Counter = Counter()
    longest: dict[int | None, int] = {}
    for row in going_on.values("topic_id", "status").annotate(
        n=Count("id"), oldest=Min("created_at")
    ):
        topic_id = row["topic_id"] or default
        if row["status"] == Conversation.Status.WAITING:
            waiting[topic_id] += row["n"]
            longest[topic_id] = max(longest.get(topic_id, 0), _seconds(row["oldest"]))
        else:
            active[topic_id] += row["n"]
    live = list(
        going_on.select_related("assigned_agent", "offered_to").order_by("created_at", "id")[
            :LIVE_LISTED
        ]
    )
    chats = []
    for c in live:
        topic_id = c.topic_id or default
        chats.append(
            {
                "reference": c.reference,
                "status": c.status,
                "topic": topics[topic_id].name(language) if topic_id in topics else "",
                "agent": display_name(c.assigned_agent) if c.assigned_agent else "",
                "offered_to": display_name(c.offered_to) if c.offered_to else "",
                "waited_seconds": _waited(c),
                "started_at": c.created_at.isoformat(),
            }
        )
    return {
        "agents": agents,
        "topics": [
            {
                "id": t.pk,
                "name": t.name(language),
                "waiting": waiting[t.pk],
                "active": active[t.pk],
                "longest_wait_seconds": longest.get(t.pk, 0),
            }
            for t in topics.values()
        ],
        "chats": chats,
        "routing": dispatch.routing_on(),
    }


def live_conversation(reference: str) -> Conversation | None:
    """A chat still going on (waiting or active), for monitoring; else None."""
    return (
        Conversation.objects.filter(
            Q(status=Conversation.Status.WAITING) | Q(status=Conversation.Status.ACTIVE),
            reference=reference,
        )
        .select_related("assigned_agent", "topic")
        .first()
    )


def monitored_messages(conversation: Conversation, after_id: int | None) -> list[dict[str, Any]]:
    """The chat's messages after `after_id` (at most 500 at a time), as clients see them."""
    messages = Message.objects.filter(conversation=conversation)
    if after_id:
        messages = messages.filter(pk__gt=after_id)
    return [message_dict(m) for m in messages.order_by("id")[:500]]
