"""The console's welcome, claims and catch-up come in pages, each below the socket's limit."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation
from tests.conftest import agent_communicator
from tests.paging import LONG_TEXT, chat_with_messages, follow, waiting_chats

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _console(user):
    comm = await database_sync_to_async(agent_communicator)(user)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_a_console_loads_a_queue_of_300_waiting_chats(alice):
    ids = await database_sync_to_async(waiting_chats)(300)
    console = await _console(alice)
    answer = await follow(console, {"type": "hello"})
    assert answer.frames[0]["type"] == "welcome"
    assert "queue" in answer.frames[0]["next"]
    assert sorted(answer.ids("queue")) == ids
    assert {f["type"] for f in answer.frames[1:]} == {"list.page"}
    await console.disconnect()


async def test_a_console_loads_12_waiting_chats_whose_first_messages_are_4000_characters(alice):
    ids = await database_sync_to_async(waiting_chats)(12, first_text=LONG_TEXT)
    console = await _console(alice)
    answer = await follow(console, {"type": "hello"})
    assert sorted(answer.ids("queue")) == ids
    assert {q["first_message"] for q in answer.items("queue")} == {LONG_TEXT}
    await console.disconnect()


async def test_an_agent_reconnecting_to_a_chat_of_nine_long_replies_gets_each_once(alice):
    conversation, _, ids = await database_sync_to_async(chat_with_messages)(9, agent=alice)
    console = await _console(alice)
    answer = await follow(console, {"type": "hello"})
    assert answer.ids("chats") == [conversation.pk]
    assert answer.ids("messages") == ids
    await console.disconnect()
    # The reconnect asks from the last message it has: nothing is lost or repeated.
    console = await _console(alice)
    answer = await follow(console, {"type": "hello", "last_seen_id": ids[4]})
    assert set(answer.ids("messages")) >= set(ids[5:])
    assert len(answer.ids("messages")) == len(set(answer.ids("messages")))
    await console.disconnect()


async def test_taking_a_chat_with_a_long_history_brings_it_in_pages(alice):
    conversation, _, ids = await database_sync_to_async(chat_with_messages)(
        9, status=Conversation.Status.WAITING
    )
    console = await _console(alice)
    await follow(console, {"type": "hello"})
    answer = await follow(
        console, {"type": "conversation.claim", "conversation_id": conversation.pk}
    )
    assert answer.frames[0]["type"] == "conversation.claim.ok"
    assert {f["conversation_id"] for f in answer.frames[1:]} == {conversation.pk}
    # The history, then what taking it added (the agent joined), each once.
    got = answer.ids("messages")
    assert got[: len(ids)] == ids
    assert len(got) == len(set(got))
    await console.disconnect()


async def test_a_page_of_another_agents_chat_is_refused(alice, bob):
    conversation, _, _ = await database_sync_to_async(chat_with_messages)(2, agent=bob)
    console = await _console(alice)
    await follow(console, {"type": "hello"})
    await console.send_json_to({"type": "sync", "conversation_id": conversation.pk})
    error = await console.receive_json_from(timeout=5)
    assert error["code"] == "not_found"
    await console.disconnect()
