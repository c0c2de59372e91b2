"""Events published together: pipelined round trips on the pub/sub layer, in order, and a dead
Redis that loses hints but holds nobody up."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from realtime import events, layer_adapter
from realtime.events import Publisher
from tests.addresses import REDIS_URL
from tests.conftest import count_round_trips

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

REDIS = REDIS_URL


async def test_events_published_together_share_round_trips_and_arrive_in_order(monkeypatch):
    layer = RedisPubSubChannelLayer(hosts=[REDIS], prefix=f"test-pub-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    publisher = events._publisher(asyncio.get_running_loop())
    assert isinstance(publisher, Publisher), "the pinned channels-redis still has what it needs"
    channel = await layer.new_channel()
    await layer.group_add("conv.1", channel)
    await layer.group_add("conv.2", channel)
    round_trips = count_round_trips(publisher)
    # Three hundred messages committed at once, each announced by its own writer.
    await asyncio.gather(
        *(
            publisher.add([(f"conv.{1 + i % 2}", {"type": "message.new", "n": i})])
            for i in range(300)
        )
    )
    assert len(round_trips) <= 3, "the first event goes alone, the rest together"
    received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(300)]
    assert [m["event"]["n"] for m in received] == list(range(300))
    assert all(m["type"] == "chat.event" for m in received)
    await layer.flush()


async def test_a_group_in_two_processes_gets_each_event_once_and_in_order_in_both(monkeypatch):
    prefix = f"test-pub-{uuid.uuid4().hex[:8]}"
    layer = RedisPubSubChannelLayer(hosts=[REDIS], prefix=prefix)
    other = RedisPubSubChannelLayer(hosts=[REDIS], prefix=prefix)  # another process's
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    publisher = events._publisher(asyncio.get_running_loop())
    here, there = await layer.new_channel(), await other.new_channel()
    for group in ("conv.1", "conv.2"):
        await layer.group_add(group, here)
    await other.group_add("conv.1", there)
    await asyncio.gather(
        *(
            publisher.add([(f"conv.{1 + i % 2}", {"type": "message.new", "n": i})])
            for i in range(200)
        )
    )
    got_here = [(await asyncio.wait_for(layer.receive(here), 5))["event"]["n"] for _ in range(200)]
    assert got_here == list(range(200))
    got_there = [
        (await asyncio.wait_for(other.receive(there), 5))["event"]["n"] for _ in range(100)
    ]
    assert got_there == list(range(0, 200, 2))
    # Nothing more for either: the next event is one sent after, through Redis to both.
    await other.group_send("conv.1", {"type": "chat.event", "event": {"n": "after"}})
    assert (await asyncio.wait_for(layer.receive(here), 5))["event"]["n"] == "after"
    assert (await asyncio.wait_for(other.receive(there), 5))["event"]["n"] == "after"
    await layer.flush()
    await other.flush()


async def test_with_local_delivery_off_every_member_gets_each_event_once_through_redis(
    monkeypatch, settings
):
    # As during a rolling deploy from a release that does not know the origin mark.
    settings.CHAT_LOCAL_DELIVERY = False
    prefix = f"test-pub-{uuid.uuid4().hex[:8]}"
    layer = RedisPubSubChannelLayer(hosts=[REDIS], prefix=prefix)
    other = RedisPubSubChannelLayer(hosts=[REDIS], prefix=prefix)
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    publisher = events._publisher(asyncio.get_running_loop())
    here, there = await layer.new_channel(), await other.new_channel()
    await layer.group_add("conv.1", here)
    await other.group_add("conv.1", there)
    round_trips = count_round_trips(publisher)
    await publisher.add([("conv.1", {"type": "message.new", "n": n}) for n in range(3)])
    assert layer._get_layer().channels[here].qsize() == 0, "nothing delivered here at once"
    assert all(not wire[2].startswith(layer_adapter.MARK) for wire, _ in round_trips[0])
    for receiving, channel in ((layer, here), (other, there)):
        got = [(await asyncio.wait_for(receiving.receive(channel), 5)) for _ in range(3)]
        assert [m["event"]["n"] for m in got] == [0, 1, 2]
    await other.group_send("conv.1", {"type": "chat.event", "event": {"n": "after"}})
    assert (await asyncio.wait_for(layer.receive(here), 5))["event"]["n"] == "after"
    await layer.flush()
    await other.flush()


async def test_a_dead_redis_loses_the_events_with_a_warning_and_holds_nobody_up(
    monkeypatch, caplog
):
    layer = RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:9/0"], prefix="test-pub-dead")
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    publisher = events._publisher(asyncio.get_running_loop())
    await asyncio.wait_for(
        asyncio.gather(*(publisher.add([("conv.1", {"type": "typing"})]) for _ in range(20))),
        timeout=5,
    )
    assert "event(s) not broadcast" in caplog.text
    assert publisher.flushing is None and not publisher.pending


async def test_other_layers_get_their_events_one_group_send_at_a_time(monkeypatch):
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    events._publishers.reset()
    asked = []
    real = events._publisher
    monkeypatch.setattr(events._publishers, "factory", lambda loop: asked.append(1) or real(loop))
    channel = await layer.new_channel()
    await layer.group_add("conv.7", channel)
    for n in (1, 2):
        await events.publish([("conv.7", {"type": "message.new", "n": n})])
    assert [(await layer.receive(channel))["event"]["n"] for _ in (1, 2)] == [1, 2]
    assert asked == [1], "asked once per event loop, not per event"
    events._publishers.reset()


async def test_a_redis_that_never_answers_holds_the_events_only_until_the_timeout(
    monkeypatch, caplog
):
    async def silent(reader, writer):
        await reader.read(-1)  # takes every command, answers none

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    layer = RedisPubSubChannelLayer(hosts=[f"redis://127.0.0.1:{port}/0"], prefix="test-pub-hang")
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(events, "PUBLISH_TIMEOUT_SECONDS", 0.3)
    publisher = events._publisher(asyncio.get_running_loop())
    await asyncio.wait_for(publisher.add([("conv.1", {"type": "message.new"})]), timeout=3)
    assert "1 event(s) not broadcast" in caplog.text
    server.close()
