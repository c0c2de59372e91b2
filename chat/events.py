"""One way to announce a change: persist first, then send one plain-dict event after commit.

The channel layer is at-most-once; clients treat these events as hints and catch up from the
database by id, so a lost event delays a message but never loses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

AGENTS_GROUP = "agents"
VISITORS_GROUP = "visitors"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message that carries an event to the consumers' `chat_event` handler."""
    return {"type": "chat.event", "event": event}


def send_now(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, envelope(event))
    except Exception:
        # The write is committed; clients will catch up from the database when they resync.
        logger.warning("channel layer unavailable; event %s not broadcast", event.get("type"))


_local = threading.local()
T = TypeVar("T")


def _deliver(group: str, event: dict[str, Any]) -> None:
    outbox = getattr(_local, "outbox", None)
    if outbox is not None:
        outbox.append((group, event))
    else:
        send_now(group, event)


def emit(group: str, event: dict[str, Any]) -> None:
    """Broadcast `event` to `group` once the current transaction commits (at once outside one).

    Inside `collect()` the committed events are handed back to the caller instead, so an async
    consumer sends them on its own event loop without a thread hop per event.
    """
    transaction.on_commit(lambda: _deliver(group, event), robust=True)


def collect(func: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, list[tuple[str, dict]]]:
    """Runs `func` (sync) and returns its result with the events it committed."""
    _local.outbox = outbox = []
    try:
        result = func(*args, **kwargs)
    finally:
        _local.outbox = None
    return result, outbox


async def publish(outbox: list[tuple[str, dict[str, Any]]]) -> None:
    """Sends collected events from async code; a broken layer loses hints, never data."""
    layer = get_channel_layer()
    for group, event in outbox:
        try:
            await layer.group_send(group, envelope(event))
        except Exception:
            logger.warning("channel layer unavailable; event %s not broadcast", event.get("type"))
