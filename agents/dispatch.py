"""Routing: which agent a waiting chat is offered to, and never an agent over capacity.

An agent's load is the active chats assigned to them plus the waiting chats offered to them.
Every write that can raise a load (an offer, a take, a transfer to a person) decides inside one
transaction that holds the agents' profile rows (`SELECT ... FOR UPDATE`), and counts the load
after taking the lock. PostgreSQL's READ COMMITTED reads each statement with a fresh snapshot,
so the count sees every competing decision that committed before the lock was granted: two
server processes cannot both give an agent their last free place.

Locks are always taken in one order: the conversation's row first, then profiles by id. No
transaction that holds a profile waits for a conversation, so routing cannot deadlock with a
take, a transfer or the message writer (which locks conversations only).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from chat.models import Conversation, Topic
from chat.services import ChatError, conversation_claim, conversation_transfer
from realtime import events

from . import selectors
from .models import AgentProfile
from .types import StaffUser

logger = logging.getLogger(__name__)

#: Waiting chats one routing pass looks at (the sweep comes back for the rest).
PASS_LIMIT = 200


def routing_on() -> bool:
    return settings.CHAT_ROUTING == "offer"


def offer_timeout() -> timedelta:
    return timedelta(seconds=settings.CHAT_OFFER_TIMEOUT_SECONDS)


def loads(user_ids: list[int]) -> dict[int, int]:
    """Each agent's load: active chats assigned plus waiting chats offered to them."""
    active = Conversation.objects.filter(
        status=Conversation.Status.ACTIVE, assigned_agent_id__in=user_ids
    ).values("assigned_agent_id")
    offered = Conversation.objects.filter(
        status=Conversation.Status.WAITING, offered_to_id__in=user_ids
    ).values("offered_to_id")
    counts = dict.fromkeys(user_ids, 0)
    for row in active.annotate(n=Count("id")):
        counts[row["assigned_agent_id"]] += row["n"]
    for row in offered.annotate(n=Count("id")):
        counts[row["offered_to_id"]] += row["n"]
    return counts


def topic_agents(topic: Topic | None) -> Q:
    """The accounts that serve `topic` (a topic with nobody listed: every agent)."""
    if topic is None or not topic.agents.exists():
        return Q()
    return Q(user__in=topic.agents.all())


def pick(candidates: list[AgentProfile], load: dict[int, int]) -> AgentProfile | None:
    """The agent with the most free capacity; ties: the longest since their last chat (never
    had one first), then the lowest id. None when nobody has room."""
    free = [p for p in candidates if p.capacity - load[p.user_id] > 0]
    if not free:
        return None
    epoch = datetime.min.replace(tzinfo=UTC)

    def rank(p: AgentProfile) -> tuple:
        return (-(p.capacity - load[p.user_id]), p.last_chat_at or epoch, p.user_id)

    return min(free, key=rank)


def _lock_candidates(topic: Topic | None) -> list[AgentProfile]:
    """The online agents of the topic, their rows locked in id order."""
    online = selectors.online_profiles().filter(topic_agents(topic))
    return list(online.select_for_update(of=("self",)).order_by("id"))


@transaction.atomic
def conversation_route(*, conversation_id: int) -> int | None:
    """Offers a waiting chat that is offered to nobody to the best online agent of its topic;
    returns that agent's id, or None (the chat stays in the queue).

    Agents who let this chat's offer pass are skipped while anyone else of the topic has room;
    when everyone with room has, the round starts again.
    """
    if not routing_on():
        return None
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("topic")
        .filter(pk=conversation_id, status=Conversation.Status.WAITING, offered_to__isnull=True)
        .first()
    )
    if conversation is None:
        return None
    passed = list(conversation.offers_passed or [])
    # Every candidate is locked at once, in id order (a second, wider lock later could
    # deadlock with another decision); those who let it pass come last.
    candidates = _lock_candidates(conversation.topic)
    load = loads([p.user_id for p in candidates])
    chosen = pick([p for p in candidates if p.user_id not in passed], load)
    if chosen is None and passed:
        # Everyone with room has let it pass: the round starts again.
        passed = []
        chosen = pick(candidates, load)
    if chosen is None:
        return None
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(
        offered_to_id=chosen.user_id, offered_at=now, offers_passed=passed or None
    )
    AgentProfile.objects.filter(pk=chosen.pk).update(last_chat_at=now)
    offer = {
        "type": "conversation.offered",
        "conversation_id": conversation.pk,
        "agent_id": chosen.user_id,
        "topic_id": conversation.topic_id,
        "expires_at": (now + offer_timeout()).isoformat(),
    }
    events.emit(events.AGENTS_GROUP, offer)
    return chosen.user_id


def capacity_hold(*, agent: StaffUser) -> None:
    """Within the caller's transaction: locks the agent's profile and refuses (`at_capacity`,
    rolling the caller's write back) when their load, counted after the lock and including
    the caller's own write, is above their capacity."""
    profile = AgentProfile.objects.select_for_update().filter(user=agent).first()
    if profile is None:
        return
    if loads([agent.pk])[agent.pk] > profile.capacity:
        raise ChatError("at_capacity", "that agent already has as many chats as they can take")
    AgentProfile.objects.filter(pk=profile.pk).update(last_chat_at=timezone.now())


@transaction.atomic
def conversation_take(*, conversation_id: int, agent: StaffUser) -> Conversation:
    """Takes a waiting chat: accepts an offer, or takes one by hand from the queue.

    With routing on, an agent at capacity cannot take another (`at_capacity`); the claim's
    UPDATE has locked the chat's row before the agent's profile is locked.
    """
    conversation = conversation_claim(conversation_id=conversation_id, agent=agent)
    if routing_on():
        capacity_hold(agent=agent)
    return conversation


@transaction.atomic
def conversation_hand_over(
    *, conversation: Conversation, from_agent: StaffUser, to_agent: StaffUser
) -> Conversation:
    """`conversation_transfer` to a person, within the person's capacity when routing is on."""
    conversation = conversation_transfer(
        conversation=conversation, from_agent=from_agent, to_agent=to_agent
    )
    if routing_on():
        capacity_hold(agent=to_agent)
    return conversation


@transaction.atomic
def offer_decline(*, conversation_id: int, agent: StaffUser) -> bool:
    """The agent lets an offer pass at once (as a timeout would); True if it was theirs."""
    return _offer_pass(conversation_id, agent_id=agent.pk, older_than=None)


def _offer_pass(conversation_id: int, *, agent_id: int | None, older_than: datetime | None) -> bool:
    """Withdraws an offer (of `agent_id`, or any older than `older_than`) and routes it on."""
    rows = Conversation.objects.select_for_update(of=("self",)).filter(
        pk=conversation_id, status=Conversation.Status.WAITING, offered_to__isnull=False
    )
    if agent_id is not None:
        rows = rows.filter(offered_to_id=agent_id)
    if older_than is not None:
        rows = rows.filter(offered_at__lt=older_than)
    conversation = rows.first()
    if conversation is None:
        return False
    passed = [*(conversation.offers_passed or []), conversation.offered_to_id]
    Conversation.objects.filter(pk=conversation.pk).update(
        offered_to=None, offered_at=None, offers_passed=passed
    )
    events.emit(
        events.AGENTS_GROUP,
        {
            "type": "conversation.offer_passed",
            "conversation_id": conversation.pk,
            "agent_id": conversation.offered_to_id,
        },
    )
    conversation_route(conversation_id=conversation.pk)
    return True


def offers_expire(*, now: datetime | None = None) -> int:
    """Passes on every offer older than CHAT_OFFER_TIMEOUT_SECONDS; returns how many."""
    if not routing_on():
        return 0
    older_than = (now or timezone.now()) - offer_timeout()
    expired = Conversation.objects.filter(
        status=Conversation.Status.WAITING, offered_at__lt=older_than
    ).values_list("pk", flat=True)[:PASS_LIMIT]
    passed = 0
    for conversation_id in list(expired):
        with transaction.atomic():
            passed += _offer_pass(conversation_id, agent_id=None, older_than=older_than)
    return passed


def queue_route() -> int:
    """Offers waiting chats nobody holds an offer for, oldest first, until nobody has room;
    returns how many were offered."""
    if not routing_on() or not _anyone_has_room():
        return 0
    waiting = Conversation.objects.filter(
        status=Conversation.Status.WAITING, offered_to__isnull=True
    ).order_by("created_at", "id")
    offered = 0
    # A topic whose oldest chat found nobody with room is full for this pass: its younger chats
    # would find nobody either (each try locks the topic's agents), the sweep comes back.
    full: set[int | None] = set()
    for conversation_id, topic_id in list(waiting.values_list("pk", "topic_id")[:PASS_LIMIT]):
        if topic_id in full:
            continue
        if conversation_route(conversation_id=conversation_id) is None:
            full.add(topic_id)
            continue
        offered += 1
    return offered


def _anyone_has_room() -> bool:
    """A read without locks: whether any online agent has a free place (the decision itself is
    taken under the locks)."""
    online = list(selectors.online_profiles().values_list("user_id", "capacity"))
    load = loads([user_id for user_id, _ in online])
    return any(capacity > load[user_id] for user_id, capacity in online)


def agent_unavailable(*, user_id: int) -> int:
    """The agent went away or offline: their offers pass on at once; returns how many."""
    offered = Conversation.objects.filter(
        status=Conversation.Status.WAITING, offered_to_id=user_id
    ).values_list("pk", flat=True)
    passed = 0
    for conversation_id in list(offered):
        with transaction.atomic():
            passed += _offer_pass(conversation_id, agent_id=user_id, older_than=None)
    return passed


def presence_changed(*, user_id: int, presence: str) -> None:
    """After a presence change commits: an agent online may take waiting chats, one away or
    offline hands their offers on."""
    if not routing_on():
        return
    try:
        if presence == AgentProfile.Presence.ONLINE:
            queue_route()
        else:
            agent_unavailable(user_id=user_id)
    except Exception:
        logger.exception("routing after a presence change failed; the sweep tries again")


def offer_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic pass (beat): timed-out offers pass on, then the queue is routed."""
    return {"passed": offers_expire(now=now), "offered": queue_route()}


def conversation_waiting(*, conversation_id: int) -> None:
    """Hook: a chat waits (new, or transferred to a topic); routed at once, errors logged.
    Registered to be called only while routing is on (`routing_on`)."""
    try:
        conversation_route(conversation_id=conversation_id)
    except Exception:
        # The chat is committed and queued; the sweep offers it later.
        logger.exception("routing a new chat failed; it stays in the queue")


def capacity_freed() -> None:
    """Hook: a chat ended, so someone may have room for a waiting one."""
    try:
        queue_route()
    except Exception:
        logger.exception("routing the queue failed; the sweep tries again")
