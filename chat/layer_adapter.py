"""The one place that reaches into channels-redis's pub/sub layer for its subscriber connection.

channels-redis (pinned to 4.3.x in pyproject.toml) reconnects a process's subscriber connection
silently: redis-py re-subscribes every channel on the new connection, and whatever was published
meanwhile is gone, even what other processes published successfully. redis-py runs a
connection's connect callbacks on every (re)connect (that is how its PubSub re-subscribes); a
callback registered after the first connect therefore hears every reconnect, and after the
re-subscription, which was registered first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def on_subscriber_reconnect(layer: Any, callback: Callable[[Any], None]) -> int:
    """Has `callback(connection)` called whenever a subscriber connection of `layer` on this
    event loop comes back, once its channels are subscribed again.

    Returns how many connections were hooked: 0 for any other layer, or before this loop has
    subscribed to anything. redis-py keeps only a weak reference: pass a bound method of an
    object that lives as long as the hook should.
    """
    try:
        shards = layer._get_layer()._shards
    except AttributeError:
        return 0
    hooked = 0
    for shard in shards:
        connection = getattr(getattr(shard, "_pubsub", None), "connection", None)
        if connection is not None:
            connection.register_connect_callback(callback)
            hooked += 1
    return hooked
