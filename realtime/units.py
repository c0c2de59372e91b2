"""Units of work: one sync function run on the chat's database threads, its events after.

Async code (consumers, `services.message_send`) calls sync ORM work through `run_unit`, one
function per unit, so a transaction stays inside one sync function; the events the unit
committed come back to the event loop and are published there, without a thread hop per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections, connections, transaction

from . import events
from .loops import PerLoop

logger = logging.getLogger(__name__)


# Units run on a small pool of threads, each with its own persistent database connection, so
# that one slow commit does not queue every other socket of the process behind it (the default
# runs all sync work of a process on a single thread).
def _new_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.CHAT_DB_THREADS, thread_name_prefix="chat-db")


DB_EXECUTOR = _new_executor()


def _reset_executor_after_fork() -> None:
    # Threads do not survive a fork; a child must not queue work for workers it does not have.
    global DB_EXECUTOR
    DB_EXECUTOR = _new_executor()


os.register_at_fork(after_in_child=_reset_executor_after_fork)


#: A database thread's connection that did its last unit less than this long ago is used as it
#: is; one idle longer is checked first (Django's health check, a `SELECT 1` round trip).
CHECK_AFTER_IDLE_SECONDS = 1.0
_thread = threading.local()


class _Unit(SyncToAsync):
    """channels' `database_sync_to_async`, without its health check on every call.

    That closes connections that failed or outlived their age before and after each unit, and
    makes the next query run `SELECT 1` first: on a busy process, one more round trip per unit
    (most units are one or two queries) and a quarter of the database threads' time in a
    reconnect storm. Here a connection used less than CHECK_AFTER_IDLE_SECONDS ago goes on as it
    is. A connection that fails meanwhile (a database restarted, a standby promoted) fails its
    unit, which answers as a database error does (`not_stored`, retryable), and is closed after
    it, as before: the next unit on that thread connects again.
    """

    def thread_handler(self, loop, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - getattr(_thread, "used_at", float("-inf")) >= CHECK_AFTER_IDLE_SECONDS:
            close_old_connections()  # and the health check on the next query
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            for conn in connections.all(initialized_only=True):
                if conn.errors_occurred or (
                    conn.close_at is not None and time.monotonic() >= conn.close_at
                ):
                    conn.close_if_unusable_or_obsolete()
            _thread.used_at = time.monotonic()


def in_db_thread(func):
    """`func` as a coroutine that runs on the chat's database threads."""
    return _Unit(func, thread_sensitive=False, executor=DB_EXECUTOR)


async def run_unit(func, *args: Any, **kwargs: Any) -> Any:
    """Runs one sync unit of work in a database thread, then publishes the events it committed
    and asks this loop's coalesced announcements it requested (`coalesced_request`)."""
    (result, outbox), requested = await in_db_thread(_collecting)(func, *args, **kwargs)
    if outbox:
        await events.publish(outbox)
    for name in requested:
        coalescer(name).request()
    return result


# --- coalesced announcements ------------------------------------------------------------------

#: name -> (sync function building the events that say how things are now, least seconds between
#: two of its announcements). Registered by the apps (chat's queue: `chat/waiting.py`).
_announcements: dict[str, tuple[Callable[[], list[tuple[str, dict[str, Any]]]], float]] = {}
_requests = threading.local()


def coalesced(
    name: str, produce: Callable[[], list[tuple[str, dict[str, Any]]]], interval: float
) -> None:
    """Registers an announcement that many writes may ask for at once: `produce()` (sync, on
    the database threads) reads the state and returns the events that tell it."""
    _announcements[name] = (produce, interval)


def coalesced_request(name: str) -> None:
    """After the current transaction commits, `name`'s announcement is due. Inside a unit of
    an event loop the loop's `Coalesced` takes it (many requests, few announcements); anywhere
    else (views, tasks, commands: rare) it is read and announced at once."""
    transaction.on_commit(lambda: _committed(name), robust=True)


def _committed(name: str) -> None:
    requested = getattr(_requests, "names", None)
    if requested is not None:
        requested.add(name)
        return
    produce, _ = _announcements[name]
    for group, event in produce():
        events.emit(group, event)


def _collecting(func, *args: Any, **kwargs: Any) -> tuple[Any, set[str]]:
    """`events.collect(func, …)` with the coalesced announcements it asked for set aside."""
    _requests.names = set()
    try:
        return events.collect(func, *args, **kwargs), _requests.names
    finally:
        _requests.names = None


class Coalesced:
    """One event loop's announcements of one name: at most one read and one publish per
    interval, each read begun after every request made before it.

    `request()` marks the state changed. One task announces: when the last announcement is older
    than the interval it reads at once, otherwise it waits the interval out; a request made while
    it reads or publishes marks the state again and gets one more announcement. So the last
    change is never left unannounced, however the requests fall; every process announces what
    its own writes changed (each read is the state as committed, whoever changed it).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self.loop = loop
        self.name = name
        self.produce, self.interval = _announcements[name]
        self.changed = False
        self.task: asyncio.Task | None = None
        self.last = float("-inf")
        self.announced = 0  # announcements published (tests, the bench)

    def request(self) -> None:
        self.changed = True
        if self.task is None:
            self.task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.changed:
                wait = self.last + self.interval - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                # Cleared before the read: a change committed after this point asks again.
                self.changed = False
                self.last = self.loop.time()
                try:
                    await events.publish(await in_db_thread(self.produce)())
                    self.announced += 1
                except Exception:
                    # A hint lost: the next request announces the whole state again, and
                    # clients read their own when they resume.
                    logger.warning("%s announcement failed", self.name, exc_info=True)
        finally:
            self.task = None

    def discard(self) -> None:
        """Stops a waiting announcement of a loop that is finished with (tests: one per test)."""
        task, self.task = self.task, None
        if task is not None and not task.done() and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                task.cancel()


def _discard_all(coalescers: dict[str, Coalesced]) -> None:
    for each in coalescers.values():
        each.discard()


#: Each event loop's coalesced announcements, by name (made on first request).
_coalescers: PerLoop[dict[str, Coalesced]] = PerLoop(lambda loop: {}, _discard_all)


def coalescer(name: str) -> Coalesced:
    """This event loop's `Coalesced` for `name`."""
    mine = _coalescers.get()
    if name not in mine:
        mine[name] = Coalesced(asyncio.get_running_loop(), name)
    return mine[name]
