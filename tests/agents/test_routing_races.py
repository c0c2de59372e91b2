"""Capacity under concurrent writes on real PostgreSQL: takes and offers racing in threads, each
with its own database connection, never put an agent over capacity."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from agents import dispatch
from agents.models import AgentProfile
from chat.models import Conversation
from chat.services import ChatError, conversation_start, visitor_info

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def offer_mode(settings):
    settings.CHAT_ROUTING = "offer"


def _chats(n: int) -> list[int]:
    info = visitor_info(ip_address="192.0.2.1", user_agent="", language="fi", screen="")
    return [conversation_start(info=info, page=None, context=None)[0].pk for _ in range(n)]


def _race(work: list) -> list:
    """Runs each callable in its own thread at once; returns their results or errors."""
    barrier = threading.Barrier(len(work))
    results: list = [None] * len(work)

    def run(i, func):
        try:
            barrier.wait()
            results[i] = func()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_racing_takes_by_one_agent_stop_at_capacity(alice):
    AgentProfile.objects.create(user=alice, presence="online", capacity=1)
    chats = _chats(16)
    results = _race(
        [lambda c=c: dispatch.conversation_take(conversation_id=c, agent=alice) for c in chats]
    )
    taken = [r for r in results if isinstance(r, Conversation)]
    refused = [r for r in results if isinstance(r, ChatError)]
    assert len(taken) == 1
    assert {e.code for e in refused} == {"at_capacity"} and len(refused) == 15
    assert Conversation.objects.filter(assigned_agent=alice, status="active").count() == 1


def test_offers_and_takes_racing_never_overfill_an_agent(alice, bob):
    AgentProfile.objects.create(user=alice, presence="online", capacity=2)
    AgentProfile.objects.create(user=bob, presence="online", capacity=2)
    chats = _chats(12)
    work = [lambda c=c: dispatch.conversation_route(conversation_id=c) for c in chats[:6]]
    work += [
        lambda c=c, a=a: dispatch.conversation_take(conversation_id=c, agent=a)
        for c, a in zip(chats[6:], [alice, bob] * 3, strict=True)
    ]
    _race(work)
    load = dispatch.loads([alice.pk, bob.pk])
    assert load[alice.pk] <= 2 and load[bob.pk] <= 2
    # The room was used: four places, four chats offered or taken.
    assert load[alice.pk] + load[bob.pk] == 4
