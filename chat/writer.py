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

The same connections run the few other single statements that come often and need no lock or
rule of the general path (`MessageWriter.execute`, `fetch_one`: a console's presence refresh and
its login recheck, each every few seconds), so that those need no database thread either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections

from .loops import PerLoop
from .models import Conversation, Message
from .serializers import message_dict

logger = logging.getLogger(__name__)

#: Most messages one statement stores.
MAX_BATCH = 200

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


@dataclass(slots=True)
class _Statement:
    sql: str
    params: dict[str, Any] | list[Any]
    future: asyncio.Future = field(repr=False)
    #: Answer with the first row (or None) instead of the row count.
    first_row: bool = False


class MessageWriter:
    """Group commit for one event loop: `store()` waits until its message is committed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[_Pending | _Statement] = asyncio.Queue()
        self.connections: list[Any] = []
        self.workers = [
            loop.create_task(self._work(i)) for i in range(settings.CHAT_GROUP_COMMIT_CONNECTIONS)
        ]
        self.batches = 0
        self.stored = 0

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
        self.queue.put_nowait(
            _Pending(conversation_id, sender, agent_id, author_name, text, client_msg_id, future)
        )
        return await future

    async def execute(self, sql: str, params: dict[str, Any] | list[Any]) -> int:
        """Runs one statement on its own (autocommit) and returns its row count."""
        return await self._submit(sql, params, first_row=False)

    async def fetch_one(self, sql: str, params: dict[str, Any] | list[Any]) -> tuple | None:
        """Runs one query on its own and returns its first row, or None."""
        return await self._submit(sql, params, first_row=True)

    async def _submit(self, sql: str, params: dict[str, Any] | list[Any], *, first_row: bool):
        future = self.loop.create_future()
        self.queue.put_nowait(_Statement(sql, params, future, first_row))
        return await future

    async def _connect(self):
        import psycopg

        params = dict(connections["default"].get_connection_params())
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        timeout = settings.CHAT_GROUP_COMMIT_TIMEOUT_SECONDS
        params.setdefault("connect_timeout", max(1, int(timeout)))
        # One statement per batch, run often: worth preparing on the server.
        conn = await psycopg.AsyncConnection.connect(autocommit=True, prepare_threshold=0, **params)
        await conn.execute("SET TIME ZONE 'UTC'")
        return conn

    async def _work(self, slot: int) -> None:
        conn = None
        while True:
            batch = [await self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                messages = [item for item in batch if isinstance(item, _Pending)]
                if messages:
                    conn = await self._run(conn, messages, self._store)
                for item in batch:
                    if isinstance(item, _Statement):
                        conn = await self._run(conn, [item], self._execute)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.cancel()
                raise

    async def _run(self, conn, items: list, work) -> Any:
        """`work(conn, items)` within the deadline; returns the connection to go on with.

        On failure every item not yet answered hears "not stored" and the connection is
        dropped: unknown whether it committed, the sender resends, and a resent message finds
        its stored row if there is one (ON CONFLICT, general path).
        """
        try:
            # A deadline on this task, not `wait_for`: that wraps each batch in a task of its
            # own, a few more turns of the event loop for every message at light load.
            async with asyncio.timeout(settings.CHAT_GROUP_COMMIT_TIMEOUT_SECONDS):
                if conn is None or conn.closed:
                    conn = await self._connect()
                    self.connections.append(conn)
                await work(conn, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("message writer: %d item(s) not stored: %s", len(items), exc)
            if conn is not None:
                self._discard(conn)
                conn = None
            for item in items:
                if not item.future.done():
                    item.future.set_exception(DatabaseError("not stored"))
        return conn

    async def _store(self, conn, batch: list[_Pending]) -> None:
        rows = await self._write(conn, batch)
        self.batches += 1
        self.stored += len(rows)
        for item in batch:
            if not item.future.done():
                item.future.set_result(rows.pop((item.conversation_id, item.client_msg_id), None))

    async def _execute(self, conn, items: list[_Statement]) -> None:
        (item,) = items  # one statement per run: its failure is its own
        cursor = await conn.execute(item.sql, item.params)
        result = await cursor.fetchone() if item.first_row else cursor.rowcount
        if not item.future.done():
            item.future.set_result(result)

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

    def _discard(self, conn) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        with contextlib.suppress(Exception):  # already gone
            conn.pgconn.finish()

    def close_now(self) -> None:
        """Drops the connections without the event loop (the loop may be gone): tests, forks."""
        for task in self.workers:
            if not task.done() and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(task.cancel)
        for conn in list(self.connections):
            self._discard(conn)


_writers: PerLoop[MessageWriter] = PerLoop(MessageWriter, MessageWriter.close_now)


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
