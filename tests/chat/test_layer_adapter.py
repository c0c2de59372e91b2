"""The hook into channels-redis's subscriber connection (chat/layer_adapter.py), on real Redis:
the pinned versions still reconnect it silently, and the hook hears it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from chat.layer_adapter import on_subscriber_reconnect
from tests.addresses import REDIS_HOST, REDIS_PORT
from tests.faults.proxy import CuttableProxy

pytestmark = [pytest.mark.services, pytest.mark.asyncio]


class Heard:
    def __init__(self) -> None:
        self.reconnects = 0

    def reconnected(self, connection) -> None:
        self.reconnects += 1


async def test_it_hears_the_subscriber_come_back_after_redis_was_cut_and_receives_again():
    proxy = CuttableProxy(REDIS_PORT, REDIS_HOST)
    layer = RedisPubSubChannelLayer(
        hosts=[f"redis://127.0.0.1:{proxy.port}/0"], prefix=f"test-adapter-{uuid.uuid4().hex[:8]}"
    )
    try:
        channel = await layer.new_channel()
        heard = Heard()
        assert on_subscriber_reconnect(layer, heard.reconnected) == 1
        proxy.cut()
        proxy.restore()
        async with asyncio.timeout(15):
            while not heard.reconnects:
                await asyncio.sleep(0.05)
        # Subscribed again: a message published now arrives.
        await layer.send(channel, {"type": "after"})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "after"
    finally:
        await layer.flush()
        proxy.close()


async def test_other_layers_have_nothing_to_hook():
    assert on_subscriber_reconnect(InMemoryChannelLayer(), Heard().reconnected) == 0
