"""The one place that reaches into channels-redis's pub/sub layer (`RedisPubSubChannelLayer`).

channels-redis is pinned to 4.3.x in pyproject.toml; tests/realtime/test_layer_adapter.py checks
every private name used here on the installed version. Three things need its internals (and
a channel's queue is a `realtime.mailbox.Mailbox`, and a stopping process forgets its channels,
`channels_forget`):

Publishing many events in one round trip (`group_publish`, for `events.Publisher`). Its
`group_send` sends each event as its own PUBLISH under a lock held for the round trip; here the
layer's own group naming and sharding choose the channels, and each shard's connection pool
(not its subscriber connection) sends them pipelined.

Delivering an event to the members of its group in this process at once (`deliver_here`), not
when it comes back from Redis. It is still published, marked with this event loop's origin (the
payload is `MARK`, the origin, then the layer's usual bytes): the other processes' receivers
strip the mark and deliver as before, and this loop's receiver drops its own echo, so every
member anywhere gets each event once, and in the order this loop published them. What does not
go through here (`group_send`, `send`, other processes' events, Celery's) is unmarked and
delivered as channels-redis does; the receiver hook is installed on the class (`install`), so
a process that has not published anything yet still understands the mark.

Subscribing in batches (`install`). The shard subscribed and unsubscribed each channel under a
lock, one command at a time, and took the lock even for a group it already followed. A lock
handed from waiter to waiter moves once per turn of the event loop: when every socket of a
restarted process came back at once (each one channel of its own and its chat's group), the
subscriptions went through at the pace of the loop's turns, a few hundred a second, and
everything behind them waited (the health probe's publish too, so the layer was reported down).
Here a subscription is queued, and one task per shard sends everything queued meanwhile as one
SUBSCRIBE and one UNSUBSCRIBE, in order; `subscribe` returns once its command is written, as
before. A group already followed costs nothing. `unsubscribe` does not wait: a consumer
cancelled while leaving (Daphne stopping it) has nothing to be cancelled in, and its
channel is unsubscribed all the same.

Decoding an event once for all its members here (`install`). A group's event reaches each
member's queue as the same bytes object (from Redis, and from `deliver_here`), and each member
decoded it again: a queue announcement, a list of up to a hundred places, was decoded by every
waiting visitor's socket, a fifth of a process's CPU during a burst of new chats. The layer's
`deserialize` now remembers the last few payloads it decoded, by identity: the members share one
decoded event, which they only read.

Hearing the subscriber reconnect (`on_subscriber_reconnect`, for realtime/layer_health.py). It
reconnects a process's subscriber connection
silently: redis-py re-subscribes every channel on the new connection, and whatever was published
meanwhile is gone, even what other processes published successfully. redis-py runs a
connection's connect callbacks on every (re)connect (that is how its PubSub re-subscribes); a
callback registered after the first connect therefore hears every reconnect, and after the
re-subscription, which was registered first.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)

from .mailbox import Mailbox

#: First byte of a payload published by `group_publish`. msgpack (the layer's serializer) never
#: uses 0xc1, and an encrypted payload (Fernet, base64 text) never starts with it.
MARK = b"\xc1"
ORIGIN_BYTES = 16
#: One published payload: the shard that publishes it, its Redis channel, the marked bytes.
Wire = tuple[Any, str, bytes]


def _loop_layer(layer: Any) -> Any:
    """The pub/sub layer's per-event-loop half (`_get_layer()`); AttributeError elsewhere."""
    return layer._get_layer()


def group_publish_supported(layer: Any) -> bool:
    """Whether `layer` is one `group_publish` can send through (the pub/sub layer)."""
    try:
        loop_layer = _loop_layer(layer)
        loop_layer._get_group_channel_name, loop_layer._get_shard  # noqa: B018
    except AttributeError:
        return False
    return True


def _origin(loop_layer: Any) -> bytes:
    """This event loop's origin: the mark its receiver knows as its own echo."""
    origin = getattr(loop_layer, "helao_origin", None)
    if origin is None:
        origin = loop_layer.helao_origin = os.urandom(ORIGIN_BYTES)
    return origin


def deliver_here(
    layer: Any, messages: list[tuple[str, dict[str, Any]]], here: bool = True
) -> list[Wire]:
    """Puts each `(group, message)` into the receive queue of every member of its group in this
    event loop, at once and in order; returns what is to be published for the other processes.

    The queues take the layer's serialized bytes, as from Redis (the consumers' `receive`
    deserializes them), so a member gets the same message either way. `here` False: nothing is
    delivered here, and the payloads are published unmarked, for every member through Redis
    (while processes of a release that does not know the mark still run).
    """
    loop_layer = _loop_layer(layer)
    if not here:
        return [
            (loop_layer._get_shard(channel), channel, layer.serialize(message))
            for channel, message in (
                (loop_layer._get_group_channel_name(group), message) for group, message in messages
            )
        ]
    mark = MARK + _origin(loop_layer)
    queues = loop_layer.channels
    wires: list[Wire] = []
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        payload = layer.serialize(message)
        for member in loop_layer.groups.get(channel, ()):
            queue = queues.get(member)
            if queue is not None:
                queue.put_nowait(payload)
        wires.append((loop_layer._get_shard(channel), channel, mark + payload))
    return wires


async def publish(wires: list[Wire]) -> None:
    """Publishes `deliver_here`'s payloads, pipelined per shard, in order.

    At most one round trip per shard; a single message is a plain PUBLISH (cheaper than a
    pipeline of one). Raises what the connection raises.
    """
    by_shard: dict[Any, list[tuple[str, bytes]]] = defaultdict(list)
    for shard, channel, payload in wires:
        by_shard[shard].append((channel, payload))
    for shard, items in by_shard.items():
        shard._ensure_redis()
        if len(items) == 1:
            await shard._redis.publish(*items[0])
            continue
        async with shard._redis.pipeline(transaction=False) as pipe:
            for channel, payload in items:
                pipe.publish(channel, payload)
            await pipe.execute()


async def group_publish(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Sends each `(group, message)` as `layer.group_send` would: to this loop's members at
    once, to the others through Redis, each once."""
    await publish(deliver_here(layer, messages))


_plain_receive = RedisSingleShardConnection._receive_message


def _receive_message(self: Any, message: dict[str, Any] | None) -> None:
    """The shard's receiver, for marked payloads: this loop's own echo is dropped (its members
    had the event when it was published), another's is delivered without the mark."""
    if message is not None:
        data = message["data"]
        if isinstance(data, bytes) and data[:1] == MARK:
            if data[1 : 1 + ORIGIN_BYTES] == getattr(self.channel_layer, "helao_origin", None):
                return
            message = {**message, "data": data[1 + ORIGIN_BYTES :]}
    _plain_receive(self, message)


def channels_forget(layer: Any) -> int:
    """Forgets every channel of this event loop (at a process's stop, once its sockets have
    gone): a receive cancelled afterwards ends without unsubscribing from Redis, and nothing
    more is delivered to them. Returns how many there were; 0 for any other layer."""
    try:
        channels = _loop_layer(layer).channels
    except AttributeError:
        return 0
    count = len(channels)
    channels.clear()
    return count


def channel_mailbox(layer: Any, channel: str) -> Mailbox | None:
    """The queue of this event loop's `channel` (after `new_channel`), to be read directly
    instead of through `receive`; None for any other layer. Its payloads are decoded by
    `layer.deserialize`, and `channel_close` is what an ended `receive` did."""
    try:
        box = _loop_layer(layer).channels.get(channel)
    except AttributeError:
        return None
    return box if isinstance(box, Mailbox) else None


async def channel_close(layer: Any, channel: str) -> None:
    """Forgets `channel` and unsubscribes it (queued, not waited for), as the layer's
    `receive` does when the consumer reading it ends."""
    loop_layer = _loop_layer(layer)
    if loop_layer.channels.pop(channel, None) is not None:
        await loop_layer._get_shard(channel).unsubscribe(channel)


async def _subscribe_to_channel(self: Any, channel: str) -> None:
    """The layer's own, with a `Mailbox` for the channel's messages instead of an
    `asyncio.Queue` (most sockets are idle, and so are their queues)."""
    self.channels[channel] = Mailbox()
    await self._get_shard(channel).subscribe(channel)


class _Subscriptions:
    """A shard's queued (un)subscriptions: channel -> True (follow) or False (leave), in the
    order last asked, and the future of the batch that will send them."""

    def __init__(self) -> None:
        self.queued: dict[str, bool] = {}
        self.sent: asyncio.Future | None = None


def _subscriptions(shard: Any) -> _Subscriptions:
    batch = shard.__dict__.get("helao_subscriptions")
    if batch is None:
        batch = shard.helao_subscriptions = _Subscriptions()
    return batch


def _want(shard: Any, channel: str, follow: bool) -> asyncio.Future | None:
    """Queues following (or leaving) `channel`; returns the future of the batch that sends it,
    or None when there is nothing to send."""
    batch = _subscriptions(shard)
    if channel not in batch.queued and (channel in shard._subscribed_to) == follow:
        return None
    batch.queued.pop(channel, None)
    batch.queued[channel] = follow
    if batch.sent is None:
        batch.sent = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(_send_subscriptions(shard, batch))
        _sending.add(task)
        task.add_done_callback(_sending.discard)
    return batch.sent


_sending: set[asyncio.Task] = set()


async def _send_subscriptions(shard: Any, batch: _Subscriptions) -> None:
    """Sends the shard's queued subscriptions as they are once the shard's lock is free (a
    publish or a flush may hold it): one UNSUBSCRIBE and one SUBSCRIBE."""
    sent = batch.sent
    assert sent is not None
    taken = False
    try:
        async with shard._lock:
            queued, batch.queued, batch.sent = batch.queued, {}, None
            taken = True
            # A channel is in one list at most (its last wish): the order between them does
            # not matter, and leaving first keeps Redis's count of channels lowest.
            leave = [c for c, on in queued.items() if not on and c in shard._subscribed_to]
            follow = [c for c, on in queued.items() if on and c not in shard._subscribed_to]
            if leave or follow:
                shard._ensure_redis()
                shard._ensure_receiver()
            if leave:
                await shard._pubsub.unsubscribe(*leave)
                shard._subscribed_to.difference_update(leave)
            if follow:
                await shard._pubsub.subscribe(*follow)
                shard._subscribed_to.update(follow)
    except BaseException as exc:
        if not taken and batch.sent is sent:
            batch.sent = None  # what was queued goes with the next batch
        if not sent.done():
            sent.set_exception(exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
        if not isinstance(exc, Exception):
            raise
    else:
        if not sent.done():
            sent.set_result(None)


async def _subscribe(self: Any, channel: str) -> None:
    """The shard's `subscribe`: queued, and returns once its batch is written."""
    sent = _want(self, channel, True)
    if sent is not None:
        # Shielded: one socket giving up waiting must not cancel the batch of the others.
        await asyncio.shield(sent)


async def _unsubscribe(self: Any, channel: str) -> None:
    """The shard's `unsubscribe`: queued; sent with the next batch, not waited for."""
    sent = _want(self, channel, False)
    if sent is not None:
        # Read, so that a failed batch (the connection is gone) is not reported as never
        # retrieved; the subscriber's reconnection starts from what it had subscribed.
        sent.add_done_callback(lambda f: f.cancelled() or f.exception())


_plain_deserialize = RedisPubSubChannelLayer.deserialize
#: Payloads decoded most recently, per layer: enough for the fan-outs of one turn of the loop.
DECODED_KEPT = 16


def _deserialize(self: Any, message: bytes) -> Any:
    """The layer's `deserialize`, once per payload object (see the module docstring)."""
    decoded = self.__dict__.get("helao_decoded")
    if decoded is None:
        decoded = self.helao_decoded = {}
    known = decoded.get(id(message))
    # The payload itself is kept with its decoding, so that its id is not reused meanwhile.
    if known is not None and known[0] is message:
        return known[1]
    value = _plain_deserialize(self, message)
    if len(decoded) >= DECODED_KEPT:
        del decoded[next(iter(decoded))]
    decoded[id(message)] = (message, value)
    return value


def install() -> None:
    """Makes every shard of the pub/sub layer in this process understand `MARK`, subscribe in
    batches, decode each payload once, and every channel's queue a `Mailbox` (idempotent)."""
    RedisSingleShardConnection._receive_message = _receive_message
    RedisSingleShardConnection.subscribe = _subscribe
    RedisSingleShardConnection.unsubscribe = _unsubscribe
    RedisPubSubLoopLayer._subscribe_to_channel = _subscribe_to_channel
    RedisPubSubChannelLayer.deserialize = _deserialize


def on_subscriber_reconnect(layer: Any, callback: Callable[[Any], None]) -> int:
    """Has `callback(connection)` called whenever a subscriber connection of `layer` on this
    event loop comes back, once its channels are subscribed again.

    Returns how many connections were hooked: 0 for any other layer, or before this loop has
    subscribed to anything. redis-py keeps only a weak reference: pass a bound method of an
    object that lives as long as the hook should.
    """
    try:
        shards = _loop_layer(layer)._shards
    except AttributeError:
        return 0
    hooked = 0
    for shard in shards:
        connection = getattr(getattr(shard, "_pubsub", None), "connection", None)
        if connection is not None:
            connection.register_connect_callback(callback)
            hooked += 1
    return hooked
