"""Who is online, as visitors' hellos and new chats ask it: a process reuses its answer for a
second (`hooks.agents_online_recent`), forgets it when a presence is saved here or an
`availability` event reaches its visitor sockets, and asks again once the second is over."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from agents.models import AgentProfile
from chat import hooks
from realtime import events
from tests.conftest import receive_type, visitor_communicator

pytestmark = pytest.mark.django_db(transaction=True)


def _set_presence_elsewhere(user, presence: str) -> None:
    """As another process writes it: no signal reaches this one."""
    AgentProfile.objects.filter(user=user).update(presence=presence)


def test_the_answer_is_reused_within_the_second_and_asked_again_after_it(agent_online, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(hooks.time, "monotonic", lambda: clock[0])
    assert hooks.agents_online_recent() is True
    _set_presence_elsewhere(agent_online, "offline")
    clock[0] += hooks.AGENTS_ONLINE_REUSE_SECONDS / 2
    assert hooks.agents_online_recent() is True  # reused
    assert hooks.agents_online() is False  # whoever decides asks the database
    clock[0] += hooks.AGENTS_ONLINE_REUSE_SECONDS
    assert hooks.agents_online_recent() is False


def test_a_presence_saved_in_this_process_is_seen_at_once(alice):
    from agents.services import presence_set

    assert hooks.agents_online_recent() is False
    presence_set(user=alice, presence="online")
    assert hooks.agents_online_recent() is True
    presence_set(user=alice, presence="offline")
    assert hooks.agents_online_recent() is False


@pytest.mark.asyncio
async def test_an_availability_event_from_another_process_is_seen_at_once(agent_online):
    comm = visitor_communicator()
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "hello"})
    assert (await receive_type(comm, "welcome"))["agents_online"] is True
    # The agent leaves through another process: it writes the row and tells every visitor.
    await database_sync_to_async(_set_presence_elsewhere)(agent_online, "offline")
    await comm.send_json_to({"type": "hello"})
    assert (await receive_type(comm, "welcome"))["agents_online"] is True  # reused
    await get_channel_layer().group_send(
        events.VISITORS_GROUP,
        events.envelope({"type": "availability", "agents_online": False}),
    )
    assert (await receive_type(comm, "availability"))["agents_online"] is False
    await comm.send_json_to({"type": "hello"})
    assert (await receive_type(comm, "welcome"))["agents_online"] is False
    await comm.send_json_to({"type": "conversation.start", "text": "hi", "client_msg_id": "c1"})
    assert (await receive_type(comm, "error"))["code"] == "unavailable"
    await comm.disconnect()
