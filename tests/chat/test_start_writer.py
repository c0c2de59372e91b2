"""New chats group-committed on PostgreSQL (chat/writer.py `StartWriter`), and the general path
(`services.conversation_start`) they share their rows and their rules with."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import DatabaseError, connection

from chat import configuration, hooks, services, writer
from chat.models import (
    Conversation,
    HostContext,
    Message,
    PageVisit,
    Topic,
    VisitorConnection,
)
from realtime import units
from tests.conftest import agent_communicator, receive_type, visitor_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _context_keys(settings):
    settings.CHAT_CONTEXT_KEYS = ["plan"]


POSTGRES = connection.vendor == "postgresql"
PAGE = {"url": "https://www.example.org/prices", "title": "Prices", "referrer": ""}
CONTEXT = {"plan": "basic"}
INFO = services.visitor_info(
    ip_address="203.0.113.9",
    user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    language="fi-FI",
    screen="1280x720",
)


def _rows(conversation_id: int) -> dict:
    """What is stored of a chat, without ids, secrets and times."""
    conversation = Conversation.objects.values().get(pk=conversation_id)
    for key in ("id", "reference", "token_hash", "created_at", "last_activity_at"):
        conversation.pop(key)
    children = {}
    for model in (VisitorConnection, PageVisit, HostContext, Message):
        children[model.__name__] = [
            {k: v for k, v in row.items() if k not in ("id", "conversation_id", "created_at")}
            for row in model.objects.filter(conversation_id=conversation_id).values()
        ]
    return {"conversation": conversation, **children}


def _store(chat):
    return writer.chat_store(chat, services.start_events)


def _start_kwargs(i: int) -> dict:
    return {
        "info": INFO,
        "page": PAGE,
        "context": CONTEXT,
        "text": f"hello {i}",
        "client_msg_id": f"c{i}",
        "offline": False,
        "contact_email": "",
    }


async def _topic():
    # The writer takes the topic from this process's read of the configuration.
    snapshot = await database_sync_to_async(configuration.current)()
    return snapshot.default_topic() or await database_sync_to_async(services.topics.topic_default)()


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_chat_stored_by_the_writer_has_the_rows_the_general_path_stores():
    topic = await _topic()
    chat = services.new_chat(topic=topic, **_start_kwargs(1))
    assert await _store(chat)
    assert chat.conversation.pk and all(row.pk for row in chat.rows)
    assert chat.message.conversation_id == chat.conversation.pk
    # As the ORM leaves rows it inserted: saved again, they are updated, not inserted twice.
    assert not any(row._state.adding for row in [chat.conversation, *chat.rows])
    general, _, _ = await database_sync_to_async(services.conversation_start)(**_start_kwargs(1))
    by_writer = await database_sync_to_async(_rows)(chat.conversation.pk)
    by_general = await database_sync_to_async(_rows)(general.pk)
    assert by_writer == by_general
    assert [len(by_writer[m]) for m in ("VisitorConnection", "PageVisit", "HostContext")] == [1] * 3
    assert by_writer["Message"][0]["text"] == "hello 1"
    stored = await database_sync_to_async(Conversation.objects.get)(pk=chat.conversation.pk)
    assert stored.token_hash == chat.conversation.token_hash
    assert stored.reference == chat.conversation.reference
    assert stored.created_at == chat.conversation.created_at


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_concurrent_chats_share_batches_and_each_has_its_own_rows():
    topic = await _topic()
    chats = [services.new_chat(topic=topic, **_start_kwargs(i)) for i in range(30)]
    assert await asyncio.gather(*(_store(chat) for chat in chats)) == [True] * 30
    current = writer._start_writers.get()
    assert current.stored == 30 and current.batches < 30
    for i, chat in enumerate(chats):
        rows = await database_sync_to_async(_rows)(chat.conversation.pk)
        assert [m["text"] for m in rows["Message"]] == [f"hello {i}"]
        assert chat.message.pk and chat.message.conversation_id == chat.conversation.pk
    assert len({chat.conversation.pk for chat in chats}) == 30


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_batch_that_breaks_a_rule_stores_nothing_and_says_so():
    topic = await _topic()
    chats = [services.new_chat(topic=topic, **_start_kwargs(i)) for i in range(3)]
    # Two chats with one token: the unique index refuses the batch, and all of it is rolled back.
    chats[2].conversation.token_hash = chats[0].conversation.token_hash
    assert await asyncio.gather(*(_store(chat) for chat in chats)) == [False] * 3
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    assert await database_sync_to_async(Message.objects.count)() == 0
    # The writer goes on with the next batch.
    chat = services.new_chat(topic=topic, **_start_kwargs(9))
    assert await _store(chat)
    assert await database_sync_to_async(Conversation.objects.count)() == 1


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_socket_gone_from_a_refused_batch_leaves_the_others_their_general_path():
    topic = await _topic()
    chats = [services.new_chat(topic=topic, **_start_kwargs(i)) for i in range(2)]
    chats[1].conversation.token_hash = chats[0].conversation.token_hash
    waits = [asyncio.create_task(_store(chat)) for chat in chats]
    await asyncio.sleep(0)  # both queued
    waits[0].cancel()  # its socket closed while the batch ran
    assert await waits[1] is False  # told to take the general path, not "not stored"
    with pytest.raises(asyncio.CancelledError):
        await waits[0]


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_batch_past_its_deadline_is_refused_as_not_stored(settings, monkeypatch):
    settings.CHAT_GROUP_COMMIT_TIMEOUT_SECONDS = 0.3
    topic = await _topic()
    current = writer._start_writers.get()
    original = current._write

    async def slow(conn, chats):
        await asyncio.sleep(1)
        await original(conn, chats)

    monkeypatch.setattr(current, "_write", slow)
    with pytest.raises(DatabaseError, match="not stored"):
        await _store(services.new_chat(topic=topic, **_start_kwargs(1)))
    monkeypatch.setattr(current, "_write", original)
    assert await _store(services.new_chat(topic=topic, **_start_kwargs(2)))


async def _start_over_socket(ip: str, text: str):
    comm, started = await visitor_start(ip=ip, text=text, page=PAGE, context=CONTEXT)
    return comm, started, await receive_type(comm, "message.ack")


async def test_new_chats_over_sockets_are_announced_and_stored_on_either_path(agent_online):
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    assert (await agent.connect())[0]
    await agent.send_json_to({"type": "hello"})
    await receive_type(agent, "welcome")
    results = await asyncio.gather(
        *(_start_over_socket(f"203.0.113.{10 + i}", f"burst {i}") for i in range(6))
    )
    added = {}
    for _ in range(6):
        event = await receive_type(agent, "queue.added")
        added[event["conversation"]["id"]] = event["conversation"]
    for comm, started, ack in results:
        summary = started["conversation"]
        assert summary["id"] in added
        assert added[summary["id"]]["first_message"] == ack["message"]["text"]
        assert added[summary["id"]]["current_page"] == {"url": PAGE["url"], "title": "Prices"}
        assert ack["message"]["id"] and ack["message"]["client_msg_id"] == "c1"
        rows = await database_sync_to_async(_rows)(summary["id"])
        assert [m["text"] for m in rows["Message"]] == [ack["message"]["text"]]
        assert rows["HostContext"] == [{"data": CONTEXT}]
        await comm.disconnect()
    if POSTGRES:
        assert writer._start_writers.get().stored == 6
    await agent.disconnect()


async def test_without_a_default_topic_one_is_marked_and_the_chat_goes_to_it(agent_online):
    # The director removed the mark from every topic: a unit marks one again (the event loop
    # must not write it), and the chat goes to it.
    await database_sync_to_async(Topic.objects.update)(is_default=False)
    configuration.forget()
    comm, started, _ = await _start_over_socket("203.0.113.50", "general")
    conversation = await database_sync_to_async(Conversation.objects.select_related("topic").get)(
        pk=started["conversation"]["id"]
    )
    assert conversation.topic.is_default
    if POSTGRES:
        assert writer._start_writers.get().stored == 1
    await comm.disconnect()


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
async def test_a_connection_that_died_while_idle_is_replaced_before_the_next_batch(monkeypatch):
    # A database restart or a network cut ends the writer's connection while nobody starts a
    # chat; the next chat must not be the one that finds out (and hears "not stored").
    topic = await _topic()
    assert await _store(services.new_chat(topic=topic, **_start_kwargs(1)))
    current = writer._start_writers.get()
    (conn,) = current.connections
    pid = conn.info.backend_pid

    def terminate():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    await database_sync_to_async(terminate)()
    monkeypatch.setattr(units, "CHECK_AFTER_IDLE_SECONDS", 0.0)  # as if idle for a while
    assert await _store(services.new_chat(topic=topic, **_start_kwargs(2)))
    assert current.connections and current.connections[0] is not conn
    assert await database_sync_to_async(Conversation.objects.count)() == 2


async def test_a_console_has_a_new_chat_in_its_queue_before_it_is_offered(agent_online, settings):
    # The order of the general path: the queue item, then the offer, then the visitor's start.
    settings.CHAT_ROUTING = "offer"
    await database_sync_to_async(services.topics.topic_default)()
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    assert (await agent.connect())[0]
    await agent.send_json_to({"type": "hello"})
    await receive_type(agent, "welcome")
    comm, started, _ = await _start_over_socket("203.0.113.60", "offer me")
    chat_id = started["conversation"]["id"]
    seen = []
    while "conversation.offered" not in seen:
        frame = await agent.receive_json_from(timeout=5)
        if (
            frame.get("conversation", {}).get("id") == chat_id
            or frame.get("conversation_id") == chat_id
        ):
            seen.append(frame["type"])
    assert seen.index("queue.added") < seen.index("conversation.offered")
    await comm.disconnect()
    await agent.disconnect()


@pytest.mark.skipif(not POSTGRES, reason="the writer exists on PostgreSQL only")
@pytest.mark.parametrize("routing", ["offer", "queue"])
async def test_a_batch_is_routed_only_while_routing_is_on(routing, settings, monkeypatch):
    # Routing off (a plain queue): nothing to offer, so no database thread after the commit.
    settings.CHAT_ROUTING = routing
    routed = []
    monkeypatch.setattr(writer, "_route_all", routed.append)
    topic = await _topic()
    assert hooks.wanted("conversation_waiting") is (routing == "offer")
    assert await _store(services.new_chat(topic=topic, **_start_kwargs(1)))
    assert len(routed) == (1 if routing == "offer" else 0)
