from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation
from tests.conftest import agent_communicator, receive_type, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


_receive_type = receive_type


async def test_an_agent_takes_a_chat_and_the_visitor_sees_the_agent_name(agent_online):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "conversation.start", "text": "Hei", "client_msg_id": "v1"})
    started = await _receive_type(visitor, "conversation.started")
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    connected, _ = await agent.connect()
    assert connected
    await agent.send_json_to({"type": "hello"})
    welcome = await _receive_type(agent, "welcome")
    assert [q["first_message"] for q in welcome["queue"]] == ["Hei"]
    conv_id = started["conversation"]["id"]
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await _receive_type(agent, "conversation.claim.ok")
    await agent.send_json_to(
        {
            "type": "message.send",
            "conversation_id": conv_id,
            "text": "Hello, how can I help?",
            "client_msg_id": "a1",
        }
    )
    await _receive_type(agent, "message.ack")
    while True:
        frame = await _receive_type(visitor, "message.new")
        if frame["message"]["sender"] == "agent":
            break
    assert frame["message"]["author_name"] == "Alice Agent"
    await visitor.send_json_to({"type": "message.send", "text": "Thanks", "client_msg_id": "v2"})
    while True:
        got = await _receive_type(agent, "message.new")
        if got["message"]["sender"] == "visitor":
            break
    assert got["message"]["text"] == "Thanks"
    await agent.disconnect()
    await visitor.disconnect()


async def test_two_agents_racing_for_one_chat_one_wins(agent_online, bob):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "conversation.start", "text": "Hei", "client_msg_id": "v1"})
    started = await _receive_type(visitor, "conversation.started")
    conv_id = started["conversation"]["id"]
    a = await database_sync_to_async(agent_communicator)(agent_online)
    b = await database_sync_to_async(agent_communicator)(bob)
    await a.connect()
    await b.connect()
    claim = {"type": "conversation.claim", "conversation_id": conv_id}
    await asyncio.gather(a.send_json_to(claim), b.send_json_to(claim))

    async def outcome(comm):
        for _ in range(10):
            frame = await comm.receive_json_from(timeout=3)
            if frame["type"] == "conversation.claim.ok":
                return "won"
            if frame["type"] == "error":
                return frame["code"]
        return None

    results = sorted(await asyncio.gather(outcome(a), outcome(b)))
    assert results == ["already_taken", "won"]
    conv = await database_sync_to_async(Conversation.objects.get)(pk=conv_id)
    assert conv.status == "active"
    await a.disconnect()
    await b.disconnect()
    await visitor.disconnect()


async def test_users_without_the_console_permission_cannot_connect(charlie):
    comm = await database_sync_to_async(agent_communicator)(charlie)
    connected, _ = await comm.connect()
    assert not connected
