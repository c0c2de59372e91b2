"""One way to announce a change: persist first, then send one plain-dict event after commit.

The channel layer is at-most-once; clients treat these events as hints and catch up from the
database by id, so a lost event delays a message but never loses it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from . import admission, layer_adapter, layer_health
from .batching import RoundTrips
from .loops import PerLoop

logger = logging.getLogger(__name__)

AGENTS_GROUP = "agents"
VISITORS_GROUP = "visitors"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def conversation_staff_group(conversation_id: int) -> str:
    """The consoles following a conversation, without its visitor: internal notes go here."""
    return f"conv.{conversation_id}.staff"


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
    outbox: list[tuple[str, dict]] = []
    _local.outbox = outbox
    try:
        result = func(*args, **kwargs)
    finally:
        _local.outbox = None
    return result, outbox


#: A round trip not answered within this time is given up (its events are hints; clients catch
#: up from the database), so that a Redis that hangs instead of refusing holds nobody for long.
PUBLISH_TIMEOUT_SECONDS = 5.0


class Publisher(RoundTrips[list]):
    """Events of one event loop published together, one pipelined round trip at a time.

    channels-redis's pub/sub layer sends each `group_send` as its own PUBLISH under a lock held
    for the whole round trip, so a process publishes at most one event per turn of its event
    loop. At 1,400 msg/s the events queued behind that lock for up to half a second while the
    loop itself ran less than 10 ms behind. Here the events that arrive while one round trip is
    under way go together in the next, on the layer's own connection pool (not its subscriber
    connection; realtime/layer_adapter.py), in the order they were published. Each carries the loop
    time it was published, which its sender's socket reads when it reaches it
    (realtime/admission.py).

    The members of an event's group in this process have it at once, when it is added (not a
    round trip later); the round trip is for the other processes, and its echo here is dropped
    (`layer_adapter.deliver_here`).
    """

    def __init__(self, layer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        super().__init__()

    def _empty(self) -> list:
        return []

    def _add(self, pending: list, items: list[tuple[str, dict[str, Any]]]) -> None:
        now = self.loop.time()
        messages = [(group, {**envelope(event), "published_at": now}) for group, event in items]
        wires = layer_adapter.deliver_here(self.layer, messages, settings.CHAT_LOCAL_DELIVERY)
        pending.extend((wire, now) for wire in wires)

    def _failed(self, batch: list, exc: Exception) -> None:
        logger.warning("channel layer unavailable; %d event(s) not broadcast: %s", len(batch), exc)
        layer_health.publish_failed()

    async def _send(self, batch: list[tuple[layer_adapter.Wire, float]]) -> None:
        async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
            await layer_adapter.publish([wire for wire, _ in batch])
        # The oldest event's way through the publish queue and Redis (realtime/admission.py).
        admission.published(batch[0][1])


def _publisher(loop: asyncio.AbstractEventLoop) -> Publisher | bool:
    """This loop's publisher, or False (not None: that would be asked again on every event)."""
    layer = get_channel_layer()
    # Any other layer than the pub/sub one (the in-memory one of the tests without Redis) gets
    # its events one `group_send` at a time.
    return Publisher(layer, loop) if layer_adapter.group_publish_supported(layer) else False


_publishers: PerLoop[Publisher | bool] = PerLoop(_publisher)


async def publish(outbox: list[tuple[str, dict[str, Any]]]) -> None:
    """Sends collected events from async code; a broken layer loses hints, never data."""
    if not outbox:
        return
    publisher = _publishers.get()
    if isinstance(publisher, Publisher):
        await publisher.add(outbox)
        return
    layer = get_channel_layer()
    for group, event in outbox:
        try:
            await layer.group_send(group, envelope(event))
        except Exception:
            logger.warning("channel layer unavailable; event %s not broadcast", event.get("type"))
            layer_health.publish_failed()
