"""The message hot path on PostgreSQL: chat messages stored from the event loop, group-committed.

Nearly every message is a visitor or an agent writing into an active conversation. For those
`services.message_send` hands the message to its process's `MessageWriter` instead of a database
thread. A few asynchronous connections (autocommit) each take every message waiting at that
moment and store them with one statement, which is its own transaction: lock the active
conversations, insert each message once per client id, move each conversation's activity time.
Under light load a message is written alone, at once; under heavy load the messages that arrived
while the previous statement ran share the next one, and with it the commit.

Only `services.message_send` calls it: the rules, the cleaning and the events are there, the
writer only stores. What the statement does not store (a waiting, closed or someone else's
conversation, a resend of a stored client id) comes back as None, and `message_send` takes the
general path, which holds every rule and error for those cases. On SQLite, or with
CHAT_GROUP_COMMIT off, there is no writer and every message goes that way.

The batching, the connections, the deadline and the single statements that share them
(`execute`, `fetch_one`: a console's presence refresh and its login recheck) are the realtime
layer's `GroupCommit`; what is here is the message statement.

New chats are group-committed the same way (`StartWriter`, `chat_store`): `services.new_chat`
builds a chat's rows (conversation, connection, page, host context, first message) on the event
loop, and one transaction per batch stores every chat waiting at that moment, with the INSERT
each model's metadata gives, sent for all rows at once (psycopg's pipeline): two round trips and
one commit for the batch, where each chat took a database thread, a transaction and five
statements of its own. A batch that breaks a rule is rolled back whole and each of its chats
takes the general path (`services.conversation_start`), which raises the error that is its own.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.db.models.fields import NOT_PROVIDED

from realtime import events, units
from realtime.group_commit import GroupCommit
from realtime.loops import PerLoop

from . import hooks
from .models import Conversation, Message
from .serializers import message_dict

logger = logging.getLogger(__name__)

_MESSAGE = Message._meta.db_table
_CONVERSATION = Conversation._meta.db_table

# One statement per batch. The conversations are locked in id order (two batches never wait on
# each other crosswise), and a conversation closed or reassigned meanwhile is re-checked on its
# newest version. ON CONFLICT leaves resends of a stored client id to the general path.
# Table names come from model metadata, values travel as parameters.
STORE_SQL = f"""
WITH batch AS (
    SELECT * FROM jsonb_to_recordset(%(batch)s::jsonb)
        AS b(conversation_id bigint, sender varchar, agent_id bigint, author_name varchar,
             text text, client_msg_id varchar)
), open AS (
    -- An array computed once probes the primary key (IN (SELECT ...) may hash-join instead);
    -- the status is read from the locked, newest version of each row.
    SELECT id, assigned_agent_id, status FROM {_CONVERSATION}
    WHERE id = ANY(ARRAY(SELECT conversation_id FROM batch))
    ORDER BY id FOR NO KEY UPDATE
), stored AS (
    INSERT INTO {_MESSAGE} (conversation_id, sender, agent_id, author_name, text, client_msg_id,
                            created_at)
    SELECT b.conversation_id, b.sender, b.agent_id, b.author_name, b.text, b.client_msg_id, now()
    FROM batch b JOIN open o ON o.id = b.conversation_id AND o.status = %(active)s
    WHERE b.sender = %(visitor)s
       OR (b.sender = %(agent_sender)s AND o.assigned_agent_id = b.agent_id)
    ON CONFLICT DO NOTHING
    RETURNING id, conversation_id, client_msg_id, sender, created_at
), touched AS (
    UPDATE {_CONVERSATION} c
    SET last_activity_at = s.at,
        first_response_at = CASE WHEN c.first_response_at IS NULL AND s.agent_wrote
                                 THEN s.at ELSE c.first_response_at END
    FROM (SELECT conversation_id, max(created_at) AS at, bool_or(sender = %(agent_sender)s)
              AS agent_wrote
          FROM stored GROUP BY conversation_id) s
    WHERE c.id = s.conversation_id
)
SELECT id, conversation_id, client_msg_id, created_at FROM stored
"""  # noqa: S608


@dataclass(slots=True)
class _Pending:
    conversation_id: int
    sender: str
    agent_id: int | None
    author_name: str
    text: str
    client_msg_id: str
    future: asyncio.Future = field(repr=False)


class MessageWriter(GroupCommit):
    """Group commit of chat messages: `store()` waits until its message is committed."""

    name = "message writer"

    async def store(
        self,
        *,
        conversation_id: int,
        sender: str,
        text: str,
        client_msg_id: str,
        agent_id: int | None = None,
        author_name: str = "",
    ) -> dict[str, Any] | None:
        """The stored message as clients see it, or None when the general path must decide."""
        future = self.loop.create_future()
        self.submit(
            _Pending(conversation_id, sender, agent_id, author_name, text, client_msg_id, future)
        )
        return await future

    async def _store(self, conn, batch: list[_Pending]) -> None:
        rows = await self._write(conn, batch)
        self.batches += 1
        self.stored += len(rows)
        for item in batch:
            if not item.future.done():
                item.future.set_result(rows.pop((item.conversation_id, item.client_msg_id), None))

    async def _write(self, conn, batch: list[_Pending]) -> dict[tuple[int, str], dict[str, Any]]:
        # One JSON parameter: far cheaper to send than six arrays, and parsed once by the server.
        rows = [
            {
                "conversation_id": p.conversation_id,
                "sender": p.sender,
                "agent_id": p.agent_id,
                "author_name": p.author_name,
                "text": p.text,
                "client_msg_id": p.client_msg_id,
            }
            for p in batch
        ]
        params = {
            "batch": json.dumps(rows, ensure_ascii=False),
            "active": Conversation.Status.ACTIVE.value,
            "visitor": Message.Sender.VISITOR.value,
            "agent_sender": Message.Sender.AGENT.value,
        }
        senders: dict[tuple[int, str], _Pending] = {}
        for p in batch:
            senders.setdefault((p.conversation_id, p.client_msg_id), p)
        cursor = await conn.execute(STORE_SQL, params)
        stored = {}
        for pk, conversation_id, client_msg_id, created_at in await cursor.fetchall():
            pending = senders[(conversation_id, client_msg_id)]
            # The session is in UTC, so created_at has the ORM's shape once serialised. A plain
            # record, not a model instance: building one was 3 % of the CPU per message.
            message = SimpleNamespace(
                pk=pk,
                conversation_id=conversation_id,
                sender=pending.sender,
                author_name=pending.author_name,
                text=pending.text,
                client_msg_id=client_msg_id,
                created_at=created_at,
            )
            stored[(conversation_id, client_msg_id)] = message_dict(message)
        return stored


# --- new chats ------------------------------------------------------------------------------


@dataclass(slots=True)
class NewChat:
    """A new chat's rows, built before they are stored (`services.new_chat`), with its token
    (never stored) and the page it began on."""

    conversation: Conversation
    token: str
    #: The rows that hang off the conversation, in the order they are stored.
    rows: list[models.Model]
    message: Message | None
    page: dict[str, str] | None


#: A stored new chat's events (`services.start_events`).
Announce = Callable[[NewChat], list[tuple[str, dict[str, Any]]]]


class _Insert:
    """One model's INSERT with every concrete column but the primary key, as the ORM stores a
    new row, and the row's values prepared by each field as the ORM prepares them."""

    def __init__(self, model: type[models.Model]) -> None:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        # A value only the database knows would need the ORM's per-row SQL; none of these has one.
        unset = [f.name for f in fields if f.db_default is not NOT_PROVIDED and not f.has_default()]
        if unset:
            raise ImproperlyConfigured(f"{model.__name__}: no default in Python for {unset}")
        quote = connections["default"].ops.quote_name
        self.fields = fields
        self.sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(  # noqa: S608
            quote(model._meta.db_table),
            ", ".join(quote(f.column) for f in fields),
            ", ".join(["%s"] * len(fields)),
            quote(model._meta.pk.column),
        )

    def params(self, row: models.Model, connection) -> list[Any]:
        return [f.get_db_prep_save(f.pre_save(row, True), connection) for f in self.fields]


@functools.cache
def _insert(model: type[models.Model]) -> _Insert:
    return _Insert(model)


async def _send(conn, model: type[models.Model], rows: Sequence[models.Model]):
    """Sends `rows` (all of `model`) with one INSERT each, in the pipeline; the cursor that
    will hold their ids (`_take_ids`)."""
    insert = _insert(model)
    django_connection = connections["default"]
    cursor = conn.cursor()
    params = [insert.params(row, django_connection) for row in rows]
    await cursor.executemany(insert.sql, params, returning=True)
    return cursor


async def _take_ids(cursor, rows: Sequence[models.Model]) -> None:
    """`rows` as the ORM leaves rows it has just inserted, with the ids `cursor` returned (one
    result set per row)."""
    ids = []
    async for result in cursor.results():
        ids.append((await result.fetchone())[0])
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = "default"


@dataclass(slots=True)
class _PendingChat:
    chat: NewChat
    announce: Announce
    future: asyncio.Future = field(repr=False)


class StartWriter(GroupCommit):
    """Group commit of new chats: `store()` waits until its chat is committed."""

    name = "start writer"
    # Two round trips per batch: one connection keeps up with hundreds of new chats a second,
    # and the chats that arrive meanwhile share the next batch.
    slots = 1

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        #: Each batch's announcements, routing and answers, run after its commit (`_committed`).
        self.after_commit: set[asyncio.Task] = set()

    async def store(self, chat: NewChat, announce: Announce) -> bool:
        """True once `chat` is committed (its rows have their ids), `announce(chat)`'s events
        are published and routing has offered it; False when its batch broke a rule and was
        rolled back: nothing of it is stored or announced."""
        future = self.loop.create_future()
        self.submit(_PendingChat(chat, announce, future))
        return await future

    async def _store(self, conn, batch: list[_PendingChat]) -> None:
        import psycopg

        try:
            await self._write(conn, [item.chat for item in batch])
        except (psycopg.IntegrityError, psycopg.DataError):
            for item in batch:
                if not item.future.done():  # a socket gone meanwhile cancelled its wait
                    item.future.set_result(False)
            raise  # and the connection is dropped: a new one for the next batch
        self.batches += 1
        self.stored += len(batch)
        # The next batch need not wait for this one's announcements and routing.
        task = self.loop.create_task(self._committed(batch))
        self.after_commit.add(task)
        task.add_done_callback(self.after_commit.discard)

    async def _write(self, conn, chats: list[NewChat]) -> None:
        conversations = [chat.conversation for chat in chats]
        rows: dict[type[models.Model], list[models.Model]] = {}
        async with conn.pipeline(), conn.transaction():
            # The conversations first: the other rows need their ids.
            await _take_ids(await _send(conn, Conversation, conversations), conversations)
            for chat in chats:
                for row in chat.rows:
                    row.conversation_id = chat.conversation.pk  # type: ignore[attr-defined]
                    rows.setdefault(type(row), []).append(row)
            sent = [(await _send(conn, model, those), those) for model, those in rows.items()]
            for cursor, those in sent:
                await _take_ids(cursor, those)

    async def _committed(self, batch: list[_PendingChat]) -> None:
        """The committed chats are announced (each its `announce`), then routing
        (`conversation_waiting` hook) offers them, one unit for the batch, then their senders
        hear they are stored: in the general path's order, so that a console has a chat in its
        queue before it is offered, and a chat is offered before its visitor is told it started.
        A chat routing failed to offer stays queued (the sweep offers it later)."""
        try:
            await events.publish([each for item in batch for each in item.announce(item.chat)])
            if hooks.wanted("conversation_waiting"):  # no thread hop while routing is off
                await units.run_unit(_route_all, [item.chat.conversation.pk for item in batch])
        except Exception:
            logger.exception("routing new chats failed; they stay in the queue")
        finally:
            for item in batch:
                if not item.future.done():
                    item.future.set_result(True)


def _route_all(conversation_ids: list[int]) -> None:
    for conversation_id in conversation_ids:
        hooks.call("conversation_waiting", conversation_id=conversation_id)


_writers: PerLoop[MessageWriter] = PerLoop(MessageWriter, MessageWriter.close_now)
_start_writers: PerLoop[StartWriter] = PerLoop(StartWriter, StartWriter.close_now)


def enabled() -> bool:
    # Read from the settings, not `connections["default"]`: on an event loop that handle is
    # per task, so asking it would build (and leave to the cycle collector) a database
    # wrapper for every message.
    engine = settings.DATABASES["default"]["ENGINE"]
    return bool(settings.CHAT_GROUP_COMMIT) and engine.endswith(".postgresql")


def writer() -> MessageWriter | None:
    """This event loop's writer (made on first use), or None where there is none."""
    return _writers.get() if enabled() else None


def reset() -> None:
    """Forgets every writer and closes its connections."""
    _writers.reset()
    _start_writers.reset()


async def message_store(**message: Any) -> dict[str, Any] | None:
    """Stores a new message of an active conversation (the keywords of `MessageWriter.store`);
    returns after the commit.

    Returns the message as clients see it, or None when this path does not apply (no writer,
    no client id, not an active conversation of this sender, a resend): then
    `services.message_send` takes the general path. Announces nothing: `message_send` does.
    """
    current = writer()
    if current is None or not message.get("client_msg_id"):
        return None
    return await current.store(**message)


async def chat_store(chat: NewChat, announce: Announce) -> bool:
    """Stores a new chat's rows (`services.new_chat`) with this event loop's group commit of
    new chats; returns once it is committed (the rows' ids set), announced (`announce(chat)`)
    and routed. False when there is no writer or the chat's batch was rolled back: then
    `services.conversation_start` stores it."""
    if not enabled():
        return False
    return await _start_writers.get().store(chat, announce)
