"""The one place that reaches into channels-redis's pub/sub layer (`RedisPubSubChannelLayer`).

channels-redis is pinned to 4.3.x in pyproject.toml; tests/realtime/test_layer_adapter.py checks
every private name used here on the installed version. Two things need its internals:

Publishing many events in one round trip (`group_publish`, for `events.Publisher`). Its
`group_send` sends each event as its own PUBLISH under a lock held for the round trip; here the
layer's own group naming and sharding choose the channels, and each shard's connection pool
(not its subscriber connection) sends them pipelined.

Hearing the subscriber reconnect (`on_subscriber_reconnect`, for realtime/layer_health.py). It
reconnects a process's subscriber connection
silently: redis-py re-subscribes every channel on the new connection, and whatever was published
meanwhile is gone, even what other processes published successfully. redis-py runs a
connection's connect callbacks on every (re)connect (that is how its PubSub re-subscribes); a
callback registered after the first connect therefore hears every reconnect, and after the
re-subscription, which was registered first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any


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


async def group_publish(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Sends each `(group, message)` as `layer.group_send` would, pipelined per shard, in order.

    At most one round trip per shard; a single message is a plain PUBLISH (cheaper than a
    pipeline of one). Raises what the connection raises.
    """
    loop_layer = _loop_layer(layer)
    by_shard: dict[Any, list[tuple[str, bytes]]] = defaultdict(list)
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        by_shard[loop_layer._get_shard(channel)].append((channel, layer.serialize(message)))
    for shard, items in by_shard.items():
        shard._ensure_redis()
        if len(items) == 1:
            await shard._redis.publish(*items[0])
            continue
        async with shard._redis.pipeline(transaction=False) as pipe:
            for channel, payload in items:
                pipe.publish(channel, payload)
            await pipe.execute()


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
