"""A visitor's long history comes back in pages, each below the socket's limit."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.conftest import visitor_communicator
from tests.paging import chat_with_messages, follow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_a_visitor_reloading_a_chat_of_nine_long_replies_sees_every_reply_once(
    agent_online,
):
    _, token, ids = await database_sync_to_async(chat_with_messages)(9, agent=agent_online)
    visitor = visitor_communicator()
    await visitor.connect()
    answer = await follow(visitor, {"type": "hello", "token": token})
    assert answer.frames[0]["type"] == "welcome"
    assert answer.frames[0]["more"] is True
    assert answer.ids("messages") == ids
    assert len(answer.frames) > 1
    await visitor.disconnect()


async def test_a_sync_of_more_than_99_kb_arrives_in_pages(agent_online):
    _, token, ids = await database_sync_to_async(chat_with_messages)(12, agent=agent_online)
    visitor = visitor_communicator()
    await visitor.connect()
    await follow(visitor, {"type": "hello", "token": token, "last_seen_id": ids[-1]})
    answer = await follow(visitor, {"type": "sync"})
    assert sum(answer.sizes) > 99_000
    assert answer.ids("messages") == ids
    await visitor.disconnect()


async def test_a_resumed_visitor_gets_only_what_it_has_not_seen(agent_online):
    _, token, ids = await database_sync_to_async(chat_with_messages)(6, text="short")
    visitor = visitor_communicator()
    await visitor.connect()
    answer = await follow(visitor, {"type": "hello", "token": token, "last_seen_id": ids[2]})
    # A few seconds of overlap come once; the client drops ids it has.
    assert set(answer.ids("messages")) >= set(ids[3:])
    assert len(answer.ids("messages")) == len(set(answer.ids("messages")))
    assert answer.frames[0]["more"] is False
    await visitor.disconnect()
