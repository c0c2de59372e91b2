"""A console's periodic presence: one statement when nothing shown changes, else the full way."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import services
from agents.models import AgentProfile
from agents.selectors import effective_presence

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced(monkeypatch):
    sent: list[dict] = []
    monkeypatch.setattr(services.events, "emit", lambda group, event: sent.append(event))
    return sent


def test_a_fresh_unchanged_presence_is_refreshed_by_one_update_and_announces_nothing(
    alice, announced
):
    services.presence_set(user=alice, presence="online")
    announced.clear()
    later = timezone.now() + timedelta(seconds=20)
    with time_machine.travel(later, tick=False), CaptureQueriesContext(connection) as queries:
        services.presence_heartbeat(user=alice, presence="online")
    assert len(queries) == 1 and queries[0]["sql"].startswith("UPDATE")
    assert announced == []
    profile = AgentProfile.objects.get(user=alice)
    assert profile.presence_seen_at == later and profile.last_console_activity_at == later


def test_a_stale_presence_coming_back_is_announced(alice, announced):
    services.presence_set(user=alice, presence="online")
    announced.clear()
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert effective_presence(AgentProfile.objects.get(user=alice)) == "offline"
        services.presence_heartbeat(user=alice, presence="online")
        assert effective_presence(AgentProfile.objects.get(user=alice)) == "online"
    # Colleagues see her again, and visitors' widgets learn that someone can answer.
    assert {(e["type"], e.get("agent", {}).get("presence")) for e in announced} >= {
        ("presence", "online")
    }
    assert {"type": "availability", "agents_online": True} in announced


def test_a_changed_presence_takes_the_full_way(alice, announced):
    services.presence_set(user=alice, presence="online")
    announced.clear()
    services.presence_heartbeat(user=alice, presence="away")
    assert AgentProfile.objects.get(user=alice).presence == "away"
    assert [e["agent"]["presence"] for e in announced if e["type"] == "presence"] == ["away"]


def test_a_bad_presence_is_still_refused(alice):
    with pytest.raises(services.ChatError):
        services.presence_heartbeat(user=alice, presence="asleep")


# --- from the event loop, through the message writer (PostgreSQL) -----------------------------

POSTGRES = connection.vendor == "postgresql"


def on_the_writer(test):
    for mark in (
        pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only"),
        pytest.mark.django_db(transaction=True),
        pytest.mark.asyncio,
    ):
        test = mark(test)
    return test


def _seen(user) -> tuple:
    profile = AgentProfile.objects.get(user=user)
    return profile.presence, profile.presence_seen_at, profile.last_console_activity_at


@on_the_writer
async def test_a_fresh_unchanged_presence_is_refreshed_from_the_event_loop(alice):
    await sync_to_async(services.presence_set)(user=alice, presence="online")
    before = await sync_to_async(_seen)(alice)
    assert await services.presence_refresh(user_id=alice.pk, presence="online") is True
    presence, seen, activity = await sync_to_async(_seen)(alice)
    assert presence == "online" and seen > before[1] and activity == seen


@on_the_writer
@pytest.mark.parametrize("presence", ["away", "offline", "asleep", None, 5])
async def test_anything_but_a_fresh_unchanged_presence_is_left_to_the_full_way(alice, presence):
    await sync_to_async(services.presence_set)(user=alice, presence="online")
    before = await sync_to_async(_seen)(alice)
    assert await services.presence_refresh(user_id=alice.pk, presence=presence) is False
    assert await sync_to_async(_seen)(alice) == before


@on_the_writer
async def test_a_stale_presence_is_left_to_the_full_way(alice):
    await sync_to_async(services.presence_set)(user=alice, presence="online")
    stale = timezone.now() - timedelta(minutes=5)
    await sync_to_async(AgentProfile.objects.filter(user=alice).update)(presence_seen_at=stale)
    assert await services.presence_refresh(user_id=alice.pk, presence="online") is False
    assert (await sync_to_async(_seen)(alice))[1] == stale
