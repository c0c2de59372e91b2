"""`services.message_send`, the one way a person's message is stored: the same rules, answers
and events whether the group-commit writer (CHAT_GROUP_COMMIT, PostgreSQL) or the general path
stores it, and the writer's path with no database thread and one statement."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import services, writer
from chat.models import Conversation, Message
from chat.services import ChatError, message_send
from realtime import events, units

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

POSTGRES = connection.vendor == "postgresql"


@dataclass
class Seen:
    """What storing did: events published, database-thread hops and their queries, cleanings."""

    events: list[tuple[str, str]] = field(default_factory=list)
    hops: list[int] = field(default_factory=list)
    cleaned: int = 0

    def reset(self) -> None:
        self.events.clear()
        self.hops.clear()
        self.cleaned = 0


@pytest.fixture(params=[True, False], ids=["writer", "general"])
def path(request, settings):
    """Runs the test with the group-commit writer on (PostgreSQL only) and off."""
    settings.CHAT_GROUP_COMMIT = request.param
    return "writer" if request.param and POSTGRES else "general"


@pytest.fixture
def seen(monkeypatch) -> Seen:
    seen = Seen()
    real_publish, real_in_db_thread, real_clean = (
        events.publish,
        units.in_db_thread,
        (services.clean_text),
    )

    async def publish(outbox):
        seen.events.extend((group, event["type"]) for group, event in outbox)
        await real_publish(outbox)

    def in_db_thread(func):
        def counted(*args, **kwargs):
            with CaptureQueriesContext(connection) as queries:
                try:
                    return func(*args, **kwargs)
                finally:
                    seen.hops.append(len(queries))

        return real_in_db_thread(counted)

    def clean_text(text):
        seen.cleaned += 1
        return real_clean(text)

    monkeypatch.setattr(events, "publish", publish)
    monkeypatch.setattr(units, "in_db_thread", in_db_thread)
    monkeypatch.setattr(services, "clean_text", clean_text)
    return seen


def _chat(status=Conversation.Status.ACTIVE, agent=None) -> int:
    return Conversation.objects.create(
        token_hash=f"{Conversation.objects.count():064d}", status=status, assigned_agent=agent
    ).pk


async def _new_chat(status=Conversation.Status.ACTIVE, agent=None) -> int:
    return await database_sync_to_async(_chat)(status, agent)


async def _stored(conversation_id: int) -> list[tuple[str, str, str]]:
    rows = Message.objects.filter(conversation_id=conversation_id).order_by("id")
    return [m async for m in rows.values_list("sender", "text", "client_msg_id")]


async def test_a_visitors_message_into_an_active_chat_is_stored_once_and_announced(path, seen):
    cid = await _new_chat()
    message = await message_send(
        conversation_id=cid, sender="visitor", text="  Hei\x07 there ", client_msg_id="v1"
    )
    assert message["text"] == "Hei there" and message["client_msg_id"] == "v1"
    assert await _stored(cid) == [("visitor", "Hei there", "v1")]
    assert seen.events == [(f"conv.{cid}", "message.new")]
    assert seen.cleaned == 1
    # The hot path: no database thread; the general path: one hop of five statements (read the
    # conversation; BEGIN, insert, activity time, COMMIT).
    assert seen.hops == ([] if path == "writer" else [5])
    if path == "writer":
        assert writer.writer().batches == 1, "one statement stored and committed it"
    chat = await Conversation.objects.aget(pk=cid)
    assert chat.last_activity_at.isoformat()[:19] >= message["created_at"][:19]
    assert chat.first_response_at is None


async def test_a_resend_returns_the_stored_message_and_announces_it_again(path, seen):
    cid = await _new_chat()
    first = await message_send(conversation_id=cid, sender="visitor", text="a", client_msg_id="x")
    seen.reset()
    again = await message_send(
        conversation_id=cid, sender="visitor", text="a changed", client_msg_id="x"
    )
    assert again == first
    assert await _stored(cid) == [("visitor", "a", "x")]
    # The process that stored it may have died before announcing it: the resend is the one
    # chance the other side has to hear of it (clients drop ids they already have).
    assert seen.events == [(f"conv.{cid}", "message.new")]


async def test_an_agents_first_message_is_the_first_response_under_the_agents_name(
    path, seen, alice, bob
):
    cid = await _new_chat(agent=alice)
    message = await message_send(
        conversation_id=cid, sender="agent", agent=alice, text="Hello", client_msg_id="a1"
    )
    assert message["sender"] == "agent" and message["author_name"] == "Alice Agent"
    chat = await Conversation.objects.aget(pk=cid)
    assert chat.first_response_at is not None
    assert seen.events == [(f"conv.{cid}", "message.new")]
    assert seen.hops == ([] if path == "writer" else [5])
    # Bob may not write into Alice's chat, whichever path he is sent down.
    seen.reset()
    with pytest.raises(ChatError) as refused:
        await message_send(
            conversation_id=cid, sender="agent", agent=bob, text="Mine", client_msg_id="b1"
        )
    assert refused.value.code == "not_found"
    assert await _stored(cid) == [("agent", "Hello", "a1")]
    assert seen.events == []


async def test_a_waiting_chat_everyone_left_becomes_a_message_left_for_later(path, seen, alice):
    # Waiting with nobody online (Alice exists but is offline): what the visitor adds is kept,
    # and the chat waits in the console's own list instead of the queue.
    cid = await _new_chat(status=Conversation.Status.WAITING)
    await message_send(conversation_id=cid, sender="visitor", text="first", client_msg_id="f1")
    await message_send(conversation_id=cid, sender="visitor", text="more", client_msg_id="m")
    assert await _stored(cid) == [("visitor", "first", "f1"), ("visitor", "more", "m")]
    conversation = await Conversation.objects.aget(pk=cid)
    assert conversation.left_offline is True


@pytest.mark.parametrize(("status", "code"), [(Conversation.Status.CLOSED, "closed")])
async def test_a_chat_nobody_would_read_refuses_new_messages_but_answers_resends(
    path, seen, alice, status, code
):
    # Closed: nobody will read it.
    cid = await _new_chat()
    await message_send(conversation_id=cid, sender="visitor", text="first", client_msg_id="f1")
    await Conversation.objects.filter(pk=cid).aupdate(status=status)
    seen.reset()
    with pytest.raises(ChatError) as refused:
        await message_send(conversation_id=cid, sender="visitor", text="more", client_msg_id="m")
    assert refused.value.code == code
    resent = await message_send(
        conversation_id=cid, sender="visitor", text="first", client_msg_id="f1"
    )
    assert resent["text"] == "first"
    assert await _stored(cid) == [("visitor", "first", "f1")]
    assert seen.events == []


async def test_a_waiting_chats_message_reaches_the_queue_when_an_agent_is_online(
    path, seen, agent_online
):
    cid = await _new_chat(status=Conversation.Status.WAITING)
    await message_send(conversation_id=cid, sender="visitor", text="anyone?", client_msg_id="q1")
    assert seen.events == [(f"conv.{cid}", "message.new"), ("agents", "queue.message")]
    assert await _stored(cid) == [("visitor", "anyone?", "q1")]


@pytest.mark.parametrize(
    ("text", "client_msg_id", "code"),
    [(" \x00 ", "e1", "empty"), ("x" * 10_000, "e2", "too_long"), ("ok", "", "bad_frame")],
)
async def test_what_cannot_be_stored_is_refused_before_any_database_work(
    path, seen, text, client_msg_id, code
):
    cid = await _new_chat()
    with pytest.raises(ChatError) as refused:
        await message_send(
            conversation_id=cid, sender="visitor", text=text, client_msg_id=client_msg_id
        )
    assert refused.value.code == code
    assert seen.hops == [] and seen.events == []
    assert (writer.writer() is None) or writer.writer().batches == 0


async def test_a_message_whose_announcement_died_with_its_process_reaches_the_chat_on_resend(
    path, monkeypatch
):
    from channels.layers import get_channel_layer

    cid = await _new_chat()
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(events.conversation_group(cid), listener)
    real_publish = events.publish

    async def died_before_publishing(outbox):
        return None  # committed, then the process was gone before its events left

    monkeypatch.setattr(events, "publish", died_before_publishing)
    first = await message_send(conversation_id=cid, sender="visitor", text="a", client_msg_id="x")
    monkeypatch.setattr(events, "publish", real_publish)
    # The visitor never had the ack, reconnects (perhaps to another process) and resends.
    again = await message_send(conversation_id=cid, sender="visitor", text="a", client_msg_id="x")
    assert again == first
    heard = await asyncio.wait_for(layer.receive(listener), 5)
    assert heard["event"]["type"] == "message.new"
    assert heard["event"]["message"] == first
    assert await _stored(cid) == [("visitor", "a", "x")]
