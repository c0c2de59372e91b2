"""Nothing lost, nothing shown twice, nobody reaches another's conversation."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, Message
from tests.conftest import agent_communicator, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _frames_until(comm, kind, limit=50):
    seen = []
    for _ in range(limit):
        frame = await comm.receive_json_from(timeout=5)
        seen.append(frame)
        if frame["type"] == kind:
            return frame, seen
    raise AssertionError(f"no {kind} frame in {seen}")


async def _chat(agent_user):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "conversation.start", "text": "Hi", "client_msg_id": "v0"})
    started, _ = await _frames_until(visitor, "conversation.started")
    await _frames_until(visitor, "message.ack")
    agent = await database_sync_to_async(agent_communicator)(agent_user)
    await agent.connect()
    conv_id = started["conversation"]["id"]
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await _frames_until(agent, "conversation.claim.ok")
    return visitor, agent, started["token"], conv_id


async def test_a_visitor_who_was_away_gets_exactly_the_missed_messages_in_order(agent_online):
    visitor, agent, token, conv_id = await _chat(agent_online)
    last = await database_sync_to_async(
        lambda: Message.objects.filter(conversation_id=conv_id).order_by("-id").first().pk
    )()
    await visitor.disconnect()
    for i in range(20):
        await agent.send_json_to(
            {
                "type": "message.send",
                "conversation_id": conv_id,
                "text": f"m{i}",
                "client_msg_id": f"a{i}",
            }
        )
        await _frames_until(agent, "message.ack")
    back = visitor_communicator()
    await back.connect()
    await back.send_json_to({"type": "hello", "token": token, "last_seen_id": last})
    welcome, _ = await _frames_until(back, "welcome")
    # The resume window may repeat messages the client already has; it drops known ids.
    fresh = [m for m in welcome["messages"] if m["id"] > last]
    assert [m["text"] for m in fresh] == [f"m{i}" for i in range(20)]
    assert len({m["id"] for m in welcome["messages"]}) == len(welcome["messages"])
    await back.disconnect()
    await agent.disconnect()


async def test_an_agent_who_was_away_gets_exactly_the_missed_messages(agent_online):
    visitor, agent, _token, conv_id = await _chat(agent_online)
    last = await database_sync_to_async(
        lambda: Message.objects.filter(conversation_id=conv_id).order_by("-id").first().pk
    )()
    await agent.disconnect()
    for i in range(20):
        await visitor.send_json_to(
            {"type": "message.send", "text": f"v{i}", "client_msg_id": f"x{i}"}
        )
        await _frames_until(visitor, "message.ack")
    back = await database_sync_to_async(agent_communicator)(agent_online)
    await back.connect()
    await back.send_json_to({"type": "hello", "last_seen_id": last})
    welcome, _ = await _frames_until(back, "welcome")
    fresh = [m for m in welcome["messages"] if m["id"] > last]
    assert [m["text"] for m in fresh] == [f"v{i}" for i in range(20)]
    await back.disconnect()
    await visitor.disconnect()


async def test_a_resend_across_a_reconnect_stores_one_row(agent_online):
    visitor, agent, token, conv_id = await _chat(agent_online)
    await visitor.send_json_to({"type": "message.send", "text": "once", "client_msg_id": "same"})
    first, _ = await _frames_until(visitor, "message.ack")
    await visitor.disconnect()
    back = visitor_communicator()
    await back.connect()
    await back.send_json_to({"type": "hello", "token": token})
    await _frames_until(back, "welcome")
    for _ in range(2):
        await back.send_json_to({"type": "message.send", "text": "once", "client_msg_id": "same"})
        ack, _ = await _frames_until(back, "message.ack")
        assert ack["message"] == first["message"]
    count = await database_sync_to_async(
        Message.objects.filter(conversation_id=conv_id, client_msg_id="same").count
    )()
    assert count == 1
    await back.disconnect()
    await agent.disconnect()


async def test_one_visitor_cannot_reach_another_visitors_conversation(agent_online):
    a_visitor, agent, a_token, a_id = await _chat(agent_online)
    b = visitor_communicator(ip="198.51.100.9")
    await b.connect()
    await b.send_json_to({"type": "conversation.start", "text": "B here", "client_msg_id": "b0"})
    await _frames_until(b, "conversation.started")
    # Frames that name conversation A are ignored: a visitor socket only ever acts on its own.
    await b.send_json_to(
        {"type": "message.send", "text": "into A?", "client_msg_id": "b1", "conversation_id": a_id}
    )
    await _frames_until(b, "message.ack")
    await b.send_json_to({"type": "sync", "last_seen_id": 0, "conversation_id": a_id})
    synced, _ = await _frames_until(b, "sync")
    assert all(m["conversation_id"] != a_id for m in synced["messages"])
    a_texts = await database_sync_to_async(
        lambda: list(Message.objects.filter(conversation_id=a_id).values_list("text", flat=True))
    )()
    assert "into A?" not in a_texts
    # A guessed or truncated token opens nothing.
    await b.send_json_to({"type": "hello", "token": a_token[:-2] + "xx"})
    error, _ = await _frames_until(b, "error")
    assert error["code"] == "bad_token"
    assert a_token not in error["message"]
    await b.disconnect()
    await a_visitor.disconnect()
    await agent.disconnect()


async def test_an_agent_cannot_write_into_a_colleagues_chat(agent_online, bob):
    visitor, agent, _token, conv_id = await _chat(agent_online)
    other = await database_sync_to_async(agent_communicator)(bob)
    await other.connect()
    await other.send_json_to(
        {"type": "message.send", "conversation_id": conv_id, "text": "hijack", "client_msg_id": "h"}
    )
    error, _ = await _frames_until(other, "error")
    assert error["code"] == "not_found"
    await other.send_json_to({"type": "conversation.close", "conversation_id": conv_id})
    error, _ = await _frames_until(other, "error")
    assert error["code"] == "not_found"
    status = await database_sync_to_async(lambda: Conversation.objects.get(pk=conv_id).status)()
    assert status == "active"
    await other.disconnect()
    await visitor.disconnect()
    await agent.disconnect()
