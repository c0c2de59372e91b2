"""Group commit on the event loop: a few asynchronous PostgreSQL connections, each taking every
item waiting at that moment and storing them with one autocommit statement.

Under light load an item is written alone, at once; under heavy load the items that arrived
while the previous statement ran share the next one, and with it the commit. A subclass says
what one statement does with a batch (`_store`; the chat's messages: `chat/writer.py`). The same
connections run single statements that come often and need no lock or rule of the general path
(`execute`, `fetch_one`), so that those need no database thread either. Every statement has a
deadline; on any failure its items hear `DatabaseError("not stored")` and the connection is
dropped: unknown whether it committed, the sender resends, and the subclass's statement must
make a resend find its stored row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections

from . import units

logger = logging.getLogger(__name__)

#: Most items one statement stores.
MAX_BATCH = 200


@dataclass(slots=True)
class Statement:
    sql: str
    params: dict[str, Any] | list[Any]
    future: asyncio.Future = field(repr=False)
    #: Answer with the first row (or None) instead of the row count.
    first_row: bool = False


class GroupCommit:
    """Group commit for one event loop. `submit(item)` queues an item for the next batch; its
    `future` is answered by `_store` once the batch is committed."""

    #: How the log names this writer.
    name = "group commit"
    max_batch = MAX_BATCH
    #: How many connections (one statement at a time each); None: CHAT_GROUP_COMMIT_CONNECTIONS.
    slots: int | None = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.connections: list[Any] = []
        slots = self.slots or settings.CHAT_GROUP_COMMIT_CONNECTIONS
        self.workers = [loop.create_task(self._work(i)) for i in range(slots)]
        self.batches = 0
        self.stored = 0

    def submit(self, item: Any) -> None:
        """Queues `item` (with a `future` field) for the next batch."""
        self.queue.put_nowait(item)

    async def _store(self, conn, batch: list[Any]) -> None:
        """Stores `batch` with one statement and answers each item's future."""
        raise NotImplementedError

    async def execute(self, sql: str, params: dict[str, Any] | list[Any]) -> int:
        """Runs one statement on its own (autocommit) and returns its row count."""
        return await self._submit(sql, params, first_row=False)

    async def fetch_one(self, sql: str, params: dict[str, Any] | list[Any]) -> tuple | None:
        """Runs one query on its own and returns its first row, or None."""
        return await self._submit(sql, params, first_row=True)

    async def _submit(self, sql: str, params: dict[str, Any] | list[Any], *, first_row: bool):
        future = self.loop.create_future()
        self.queue.put_nowait(Statement(sql, params, future, first_row))
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
        #: When `conn` last finished a statement, on the loop's clock.
        used_at = float("-inf")
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                grouped = [item for item in batch if not isinstance(item, Statement)]
                if grouped:
                    conn = await self._run(conn, used_at, grouped, self._store)
                    used_at = self.loop.time()
                for item in batch:
                    if isinstance(item, Statement):
                        conn = await self._run(conn, used_at, [item], self._execute)
                        used_at = self.loop.time()
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.cancel()
                raise

    async def _run(self, conn, used_at: float, items: list, work) -> Any:
        """`work(conn, items)` within the deadline; returns the connection to go on with (None
        after a failure). `used_at`: when `conn` last finished a statement.

        On failure every item not yet answered hears "not stored" and the connection is
        dropped: unknown whether it committed, the sender resends, and a resent message finds
        its stored row if there is one (ON CONFLICT, general path).
        """
        try:
            # A deadline on this task, not `wait_for`: that wraps each batch in a task of its
            # own, a few more turns of the event loop for every message at light load.
            async with asyncio.timeout(settings.CHAT_GROUP_COMMIT_TIMEOUT_SECONDS):
                conn = await self._usable(conn, used_at)
                await work(conn, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s: %d item(s) not stored: %s", self.name, len(items), exc)
            if conn is not None:
                self._discard(conn)
                conn = None
            for item in items:
                if not item.future.done():
                    item.future.set_exception(DatabaseError("not stored"))
        return conn

    async def _usable(self, conn, used_at: float):
        """`conn`, or a new connection when there is none or it was idle and no longer answers.

        A connection idle longer than `units.CHECK_AFTER_IDLE_SECONDS` is checked (`SELECT 1`)
        first: one that died meanwhile (a database restarted, a network cut) is replaced before
        the batch, not found dead by it. A busy connection is never idle this long.
        """
        if conn is not None and not conn.closed:
            if self.loop.time() - used_at < units.CHECK_AFTER_IDLE_SECONDS:
                return conn
            try:
                await conn.execute("SELECT 1")
                return conn
            except Exception as exc:
                logger.info(
                    "%s: an idle connection no longer answers (%s); reconnecting", self.name, exc
                )
                self._discard(conn)
        conn = await self._connect()
        self.connections.append(conn)
        return conn

    async def _execute(self, conn, items: list[Statement]) -> None:
        (item,) = items  # one statement per run: its failure is its own
        cursor = await conn.execute(item.sql, item.params)
        result = await cursor.fetchone() if item.first_row else cursor.rowcount
        if not item.future.done():
            item.future.set_result(result)

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
