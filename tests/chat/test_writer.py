"""The group-commit message writer (PostgreSQL) and the general path it hands the rest to.

On SQLite there is no writer: `message_store` returns None and every message takes the general
path, which these tests then check gives the same results through the consumers.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import DatabaseError, connection, connections

from chat import services, writer
from chat.models import Conversation, Message
from tests.conftest import agent_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

POSTGRES = connection.vendor == "postgresql"


def _open_conversations(n: int, *, agent=None, status=Conversation.Status.ACTIVE) -> list[int]:
    ids = []
    for _ in range(n):
        conversation, _, _ = services.conversation_start(
            info=services.visitor_info(
                ip_address="203.0.113.9", user_agent="", language="fi", screen=None
            ),
            page=None,
            context=None,
        )
        Conversation.objects.filter(pk=conversation.pk).update(status=status, assigned_agent=agent)
        ids.append(conversation.pk)
    return ids


async def test_the_writer_exists_exactly_on_postgresql():
    assert (writer.writer() is not None) == POSTGRES


async def test_asking_for_the_writer_builds_no_database_handle(monkeypatch):
    # On an event loop Django's connection handle is per task: touching it from each message's
    # task would build a wrapper per message and leave it to the cycle collector.
    built = []
    original = connections.create_connection

    def counting(alias):
        built.append(alias)
        return original(alias)

    monkeypatch.setattr(connections, "create_connection", counting)

    async def one_message_task():
        return writer.enabled(), writer.writer() is not None

    results = await asyncio.gather(*(asyncio.create_task(one_message_task()) for _ in range(5)))
    assert results == [(POSTGRES, POSTGRES)] * 5
    assert built == []


async def test_concurrent_messages_share_statements_and_each_is_stored_once(alice):
    ids = await database_sync_to_async(_open_conversations)(40, agent=alice)
    results = await asyncio.gather(
        *(
            writer.message_store(
                conversation_id=cid,
                sender=Message.Sender.VISITOR if i % 2 else Message.Sender.AGENT,
                text=f"message {i}",
                client_msg_id=f"m{i}",
                agent_id=alice.pk,
                author_name="Alice Agent",
            )
            for i, cid in enumerate(ids * 3)
        )
    )
    if not POSTGRES:
        assert results == [None] * 120
        return
    assert all(r is not None for r in results)
    assert len({r["id"] for r in results}) == 120
    stats = writer.writer()
    assert stats.stored == 120
    # Messages that arrived while a statement ran went together into the next one.
    assert stats.batches < 120
    rows = await database_sync_to_async(
        lambda: list(Message.objects.filter(conversation_id__in=ids).values_list("text", "sender"))
    )()
    assert sorted(t for t, _ in rows) == sorted(f"message {i}" for i in range(120))
    first = results[0]
    assert first["sender"] == "agent" and first["author_name"] == "Alice Agent"
    assert first["created_at"].endswith("+00:00")
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=ids[0])
    assert conversation.first_response_at is not None
    assert conversation.last_activity_at.isoformat() >= first["created_at"][:19]


async def test_what_the_writer_does_not_store_goes_to_the_general_path(alice, bob):
    waiting = (await database_sync_to_async(_open_conversations)(1, status="waiting"))[0]
    closed = (await database_sync_to_async(_open_conversations)(1, status="closed"))[0]
    bobs = (await database_sync_to_async(_open_conversations)(1, agent=bob))[0]
    kwargs = {"text": "hi", "agent_id": alice.pk, "author_name": "Alice Agent"}
    assert (
        await writer.message_store(
            conversation_id=waiting, sender="visitor", client_msg_id="w1", **kwargs
        )
        is None
    )
    assert (
        await writer.message_store(
            conversation_id=closed, sender="visitor", client_msg_id="c1", **kwargs
        )
        is None
    )
    # Alice writing into Bob's chat: not stored here; the general path refuses it.
    assert (
        await writer.message_store(
            conversation_id=bobs, sender="agent", client_msg_id="a1", **kwargs
        )
        is None
    )
    first = await writer.message_store(
        conversation_id=bobs, sender="visitor", client_msg_id="v1", **kwargs
    )
    # A resend of a stored client id is the general path's to answer (with the stored row).
    assert (
        await writer.message_store(
            conversation_id=bobs, sender="visitor", client_msg_id="v1", **kwargs
        )
        is None
    )
    stored = await database_sync_to_async(
        lambda: list(Message.objects.filter(conversation_id__in=[waiting, closed, bobs]))
    )()
    assert [(m.conversation_id, m.client_msg_id) for m in stored] == (
        [(bobs, "v1")] if POSTGRES else []
    )
    assert (first is not None) == POSTGRES


async def test_an_agent_is_acknowledged_once_and_the_other_console_tab_sees_the_message(alice):
    cid = (await database_sync_to_async(_open_conversations)(1, agent=alice))[0]
    tabs = [await database_sync_to_async(agent_communicator)(alice) for _ in range(2)]
    for tab in tabs:
        assert (await tab.connect())[0]
        await tab.send_json_to({"type": "conversation.detail", "conversation_id": cid})
        while (await tab.receive_json_from(timeout=5))["type"] != "conversation.detail":
            pass
    sender, other = tabs
    await sender.send_json_to(
        {"type": "message.send", "conversation_id": cid, "text": "Hello", "client_msg_id": "a1"}
    )
    frames = []
    while not frames or frames[-1]["type"] != "message.ack":
        frames.append(await sender.receive_json_from(timeout=5))
    ack = frames[-1]
    assert ack["conversation_id"] == cid and ack["message"]["author_name"] == "Alice Agent"
    assert "message.new" not in [f["type"] for f in frames]
    assert await sender.receive_nothing(timeout=0.5)
    while (seen := await other.receive_json_from(timeout=5))["type"] != "message.new":
        pass
    assert seen["message"] == ack["message"]
    for tab in tabs:
        await tab.disconnect()


async def test_a_console_writes_into_several_chats_at_once_in_order_per_chat(alice):
    chats = await database_sync_to_async(_open_conversations)(3, agent=alice)
    agent = await database_sync_to_async(agent_communicator)(alice)
    assert (await agent.connect())[0]
    for cid in chats:
        await agent.send_json_to({"type": "conversation.detail", "conversation_id": cid})
    # Sent without waiting for acks, then a close: the close is handled after the messages.
    for i in range(24):
        await agent.send_json_to(
            {
                "type": "message.send",
                "conversation_id": chats[i % 3],
                "text": f"reply {i}",
                "client_msg_id": f"p{i}",
            }
        )
    await agent.send_json_to({"type": "conversation.close", "conversation_id": chats[0]})
    acked = set()
    while len(acked) < 24:
        frame = await agent.receive_json_from(timeout=10)
        assert frame["type"] != "error", frame
        if frame["type"] == "message.ack":
            acked.add(frame["client_msg_id"])
    for n, cid in enumerate(chats):
        texts = await database_sync_to_async(
            lambda cid=cid: list(
                Message.objects.filter(conversation_id=cid, sender="agent")
                .order_by("id")
                .values_list("text", flat=True)
            )
        )()
        assert texts == [f"reply {i}" for i in range(n, 24, 3)]
    # The close was taken after the messages; its own unit may still be committing.
    for _ in range(50):
        closed = await database_sync_to_async(Conversation.objects.get)(pk=chats[0])
        if closed.status == Conversation.Status.CLOSED:
            break
        await asyncio.sleep(0.1)
    assert closed.status == Conversation.Status.CLOSED
    await agent.disconnect()


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_batch_past_its_deadline_is_refused_and_the_next_is_stored(alice, settings):
    # The conversation is locked elsewhere, so the batch's statement waits past the deadline:
    # its sender hears "not stored" (and resends); the writer goes on with a new connection.
    settings.CHAT_GROUP_COMMIT_TIMEOUT_SECONDS = 0.5
    conversation_id = (await database_sync_to_async(_open_conversations)(1, agent=alice))[0]
    holding, release = asyncio.Event(), asyncio.Event()

    def hold_lock(loop):
        from django.db import transaction

        try:
            with transaction.atomic():
                Conversation.objects.select_for_update().get(pk=conversation_id)
                loop.call_soon_threadsafe(holding.set)
                asyncio.run_coroutine_threadsafe(release.wait(), loop).result(10)
        finally:
            connection.close()

    holder = asyncio.create_task(
        database_sync_to_async(hold_lock, thread_sensitive=False)(asyncio.get_running_loop())
    )
    await asyncio.wait_for(holding.wait(), 5)
    store = {
        "conversation_id": conversation_id,
        "sender": Message.Sender.VISITOR,
        "text": "waits",
        "client_msg_id": "late",
    }
    with pytest.raises(DatabaseError, match="not stored"):
        await writer.message_store(**store)
    release.set()
    await holder
    stored = await writer.message_store(**{**store, "text": "again", "client_msg_id": "next"})
    assert stored is not None and stored["text"] == "again"
    # The refused statement may still commit once the lock is gone (the connection was dropped,
    # not the server's statement); a resend then finds it, and it is never stored twice.
    await writer.message_store(**store)
    late = await database_sync_to_async(
        Message.objects.filter(conversation_id=conversation_id, client_msg_id="late").count
    )()
    assert late <= 1


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_single_statement_runs_on_the_writers_connections_beside_messages(alice):
    conversation_id = (await database_sync_to_async(_open_conversations)(1, agent=alice))[0]
    current = writer.writer()
    table = Conversation._meta.db_table
    touch = f"UPDATE {table} SET language = language WHERE id = %(id)s"  # noqa: S608
    message = {
        "conversation_id": conversation_id,
        "sender": Message.Sender.VISITOR,
        "text": "beside a statement",
    }
    # Queued together: they may share a turn of one connection, each is answered on its own.
    results = await asyncio.gather(
        current.execute(touch, {"id": conversation_id}),
        writer.message_store(**message, client_msg_id="m1"),
        current.execute(touch, {"id": -1}),
        writer.message_store(**message, client_msg_id="m2"),
    )
    assert results[0] == 1 and results[2] == 0
    assert results[1]["text"] == results[3]["text"] == "beside a statement"


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_failing_statement_is_reported_and_the_writer_goes_on(alice):
    conversation_id = (await database_sync_to_async(_open_conversations)(1, agent=alice))[0]
    current = writer.writer()
    with pytest.raises(DatabaseError, match="not stored"):
        await current.execute("UPDATE no_such_table SET x = 1", {})
    stored = await writer.message_store(
        conversation_id=conversation_id,
        sender=Message.Sender.VISITOR,
        text="after the failure",
        client_msg_id="after",
    )
    assert stored is not None and stored["text"] == "after the failure"
    assert await current.execute("SELECT 1", {}) == 1
