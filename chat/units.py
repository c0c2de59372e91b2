"""Units of work: one sync function run on the chat's database threads, its events after.

Async code (consumers, `services.message_send`) calls sync ORM work through `run_unit`, one
function per unit, so a transaction stays inside one sync function; the events the unit
committed come back to the event loop and are published there, without a thread hop per event.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from . import events, waiting
from .loops import PerLoop


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


def in_db_thread(func):
    """`func` as a coroutine that runs on the chat's database threads."""
    return database_sync_to_async(func, thread_sensitive=False, executor=DB_EXECUTOR)


async def run_unit(func, *args: Any, **kwargs: Any) -> Any:
    """Runs one sync unit of work in a database thread, then publishes the events it committed
    and, when it changed the queue, asks this loop's queue announcer (coalesced, chat/waiting.py).
    """
    (result, outbox), queue_changes = await in_db_thread(waiting.deferring)(
        events.collect, func, *args, **kwargs
    )
    if outbox:
        await events.publish(outbox)
    if queue_changes:
        announce_soon()
    return result


#: Each event loop's queue announcer (chat/waiting.py): it reads the queue on these threads.
announcers: PerLoop[waiting.QueueAnnouncer] = PerLoop(
    lambda loop: waiting.QueueAnnouncer(loop, in_db_thread), waiting.QueueAnnouncer.discard
)


def announce_soon() -> None:
    """After a unit committed queue changes: this loop's announcer's turn (coalesced)."""
    announcers.get().request()
