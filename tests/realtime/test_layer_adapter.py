"""realtime/layer_adapter.py, the one module that uses channels-redis's internals, on real Redis:
each private name it uses still exists and does what the adapter relies on in the installed
version, which is the minor version pinned in pyproject.toml and requirements.lock."""

from __future__ import annotations

import asyncio
import re
import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisSingleShardConnection

from realtime import layer_adapter
from realtime.layer_adapter import group_publish, group_publish_supported, on_subscriber_reconnect
from tests.addresses import REDIS_HOST, REDIS_PORT
from tests.faults.proxy import CuttableProxy

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
# Two shards: two databases of the test Redis.
REDIS = f"redis://{REDIS_HOST}:{REDIS_PORT}"


def _layer(*dbs: int, prefix: str | None = None) -> RedisPubSubChannelLayer:
    hosts = [f"{REDIS}/{db}" for db in dbs or (0,)]
    return RedisPubSubChannelLayer(
        hosts=hosts, prefix=prefix or f"test-adapter-{uuid.uuid4().hex[:8]}"
    )


def _processes(*dbs: int) -> tuple[RedisPubSubChannelLayer, RedisPubSubChannelLayer]:
    """Two layers on the same Redis and prefix: as two processes' layers, each with a receiver
    and an origin of its own."""
    prefix = f"test-adapter-{uuid.uuid4().hex[:8]}"
    return _layer(*dbs, prefix=prefix), _layer(*dbs, prefix=prefix)


async def _receive(layer, channel) -> dict:
    return await asyncio.wait_for(layer.receive(channel), 5)


async def test_the_installed_channels_redis_is_the_pinned_minor_version():
    installed = version("channels-redis")
    assert installed.startswith("4.3."), "check every test here, then move the pin"
    assert '"channels-redis>=4.3,<4.4"' in (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(rf"^channels-redis=={re.escape(installed)}$", lock, re.M)


async def test_get_layer_is_the_layer_of_this_event_loop_with_a_shard_per_host():
    layer = _layer(0, 1)
    loop_layer = layer._get_layer()
    assert layer._get_layer() is loop_layer
    assert len(loop_layer._shards) == 2
    assert group_publish_supported(layer)
    await layer.flush()


async def test_get_group_channel_name_and_get_shard_are_where_group_members_listen():
    # Two shards and many groups: a message reaches a member only if the adapter named the
    # group's channel and chose its shard exactly as `group_add` did.
    # The member is in another process (layer): its events come through Redis.
    layer, other = _processes(0, 1)
    member = await other.new_channel()
    groups = [f"conv.{n}" for n in range(12)]
    for group in groups:
        await other.group_add(group, member)
    loop_layer = layer._get_layer()
    shards = {loop_layer._get_shard(loop_layer._get_group_channel_name(g)) for g in groups}
    assert shards <= set(loop_layer._shards) and len(shards) == 2
    await group_publish(layer, [(g, {"type": "chat.event", "n": n}) for n, g in enumerate(groups)])
    received = sorted([(await _receive(other, member))["n"] for _ in groups])
    assert received == list(range(12))
    await layer.flush()
    await other.flush()


async def test_ensure_redis_gives_a_shard_a_connection_pool_that_publishes_and_pipelines():
    layer, other = _processes()
    member = await other.new_channel()
    await other.group_add("conv.1", member)
    loop_layer = layer._get_layer()
    shard = loop_layer._get_shard(loop_layer._get_group_channel_name("conv.1"))
    shard._ensure_redis()
    assert callable(shard._redis.publish) and callable(shard._redis.pipeline)
    # Alone: a plain PUBLISH; several: one pipeline. Both in order.
    await group_publish(layer, [("conv.1", {"type": "chat.event", "n": 0})])
    await group_publish(layer, [("conv.1", {"type": "chat.event", "n": n}) for n in (1, 2, 3)])
    assert [(await _receive(other, member))["n"] for _ in range(4)] == [0, 1, 2, 3]
    await layer.flush()
    await other.flush()


async def test_members_here_have_an_event_at_once_and_the_others_through_redis_each_once():
    layer, other = _processes()
    here, there = await layer.new_channel(), await other.new_channel()
    await layer.group_add("conv.1", here)
    await other.group_add("conv.1", there)
    loop_layer = layer._get_layer()
    messages = [("conv.1", {"type": "chat.event", "n": n}) for n in range(3)]
    wires = layer_adapter.deliver_here(layer, messages)
    # In this loop's queues before anything was awaited; the same message as from Redis.
    assert loop_layer.channels[here].qsize() == 3
    assert [w[2][:1] for w in wires] == [layer_adapter.MARK] * 3
    await layer_adapter.publish(wires)
    assert [(await _receive(layer, here))["n"] for _ in range(3)] == [0, 1, 2]
    # The other process (which has never published) strips the mark and delivers them once.
    assert [(await _receive(other, there))["n"] for _ in range(3)] == [0, 1, 2]
    # An unmarked event through Redis comes next to both: this process's echo was dropped.
    await layer.group_send("conv.1", {"type": "chat.event", "n": "after"})
    assert (await _receive(layer, here))["n"] == "after"
    assert (await _receive(other, there))["n"] == "after"
    await layer.flush()
    await other.flush()


async def test_a_channel_queue_is_a_mailbox_that_the_layer_receives_from():
    from realtime.mailbox import Mailbox

    layer = _layer()
    member = await layer.new_channel()
    assert isinstance(layer._get_layer().channels[member], Mailbox)
    await layer.send(member, {"type": "chat.event", "n": 1})
    assert (await _receive(layer, member))["n"] == 1
    await layer.flush()


async def test_the_receiver_of_every_shard_in_this_process_understands_the_mark():
    # Installed when the chat app is ready, on the class: shards made later have it too.
    assert RedisSingleShardConnection._receive_message is layer_adapter._receive_message
    plain = layer_adapter._plain_receive
    assert plain.__qualname__ == "RedisSingleShardConnection._receive_message"
    layer = _layer()
    member = await layer.new_channel()
    shard = layer._get_layer()._get_shard(member)
    # Another origin's event is delivered without its mark; an unmarked one as it is.
    payload = layer.serialize({"type": "chat.event", "n": 1})
    marked = layer_adapter.MARK + b"x" * layer_adapter.ORIGIN_BYTES + payload
    shard._receive_message({"channel": member.encode(), "data": marked})
    shard._receive_message({"channel": member, "data": payload})
    shard._receive_message(None)
    assert [(await _receive(layer, member))["n"] for _ in range(2)] == [1, 1]
    await layer.flush()


async def test_a_subscribed_shard_has_a_pubsub_connection_that_takes_connect_callbacks():
    layer = _layer()
    await layer.new_channel()
    shard = layer._get_layer()._shards[0]
    connection = shard._pubsub.connection
    assert connection is not None and callable(connection.register_connect_callback)
    await layer.flush()


async def test_a_groups_event_is_decoded_once_for_all_its_members_here():
    layer = _layer()
    members = [await layer.new_channel() for _ in range(3)]
    for m in members:
        await layer.group_add("queue", m)
    decoded = []
    plain = layer_adapter._plain_deserialize

    def counting(self, message):
        decoded.append(1)
        return plain(self, message)

    layer_adapter._plain_deserialize = counting
    try:
        items = [{"id": n, "position": n, "estimate": 60} for n in range(100)]
        await group_publish(layer, [("queue", {"type": "chat.event", "items": items})])
        got = [await _receive(layer, m) for m in members]
        assert len(decoded) == 1 and got[0] is got[1] is got[2]
        assert got[0]["items"] == items
        # Another payload with equal bytes is decoded on its own (identity, not equality).
        await group_publish(layer, [("queue", {"type": "chat.event", "items": items})])
        again = [await _receive(layer, m) for m in members]
        assert len(decoded) == 2 and again[0] is not got[0]
    finally:
        layer_adapter._plain_deserialize = plain
        await layer.flush()


async def _numsub(layer, *channels: str) -> dict[str, int]:
    shard = layer._get_layer()._shards[0]
    shard._ensure_redis()
    answer = await shard._redis.pubsub_numsub(*channels)
    return {(c.decode() if isinstance(c, bytes) else c): n for c, n in answer}


async def test_subscriptions_asked_for_together_go_to_redis_as_one_command_each_way():
    layer = _layer()
    first = await layer.new_channel()  # the shard's connection and receiver exist
    shard = layer._get_layer()._shards[0]
    sent: list[tuple[str, int]] = []
    pubsub = shard._pubsub
    plain_sub, plain_unsub = pubsub.subscribe, pubsub.unsubscribe

    async def subscribe(*channels):
        sent.append(("subscribe", len(channels)))
        return await plain_sub(*channels)

    async def unsubscribe(*channels):
        sent.append(("unsubscribe", len(channels)))
        return await plain_unsub(*channels)

    pubsub.subscribe, pubsub.unsubscribe = subscribe, unsubscribe
    try:
        members = await asyncio.gather(*(layer.new_channel() for _ in range(200)))
        assert sent == [("subscribe", 200)]
        # Every one of them follows its channel in Redis and receives.
        assert set((await _numsub(layer, *members)).values()) == {1}
        await layer.send(members[-1], {"type": "chat.event", "n": 7})
        assert (await _receive(layer, members[-1]))["n"] == 7
        # A group already followed costs no command and no wait.
        await layer.group_add("g", members[0])
        sent.clear()
        await asyncio.gather(*(layer.group_add("g", m) for m in members[1:]))
        assert sent == []
        # Leaving: the last member's discard unsubscribes; a follow and a leave of the same
        # channel asked together end as the last one asked.
        for m in members:
            await layer.group_discard("g", m)
        group = layer._get_layer()._get_group_channel_name("g")
        await asyncio.sleep(0.2)
        assert (await _numsub(layer, group))[group] == 0
        sent.clear()
        await asyncio.gather(shard.subscribe("x-both"), shard.unsubscribe("x-both"))
        await asyncio.sleep(0.2)
        assert "x-both" not in shard._subscribed_to and sent == []
    finally:
        pubsub.subscribe, pubsub.unsubscribe = plain_sub, plain_unsub
        await layer.flush()
    assert first


async def test_a_receive_cancelled_while_its_channel_is_left_ends_quietly_and_leaves(caplog):
    """Daphne cancels a consumer that does not end in time: channels-redis then unsubscribes
    its channel in the cancelled receive, and logged an error for each one cancelled there."""
    layer = _layer()
    channels = await asyncio.gather(*(layer.new_channel() for _ in range(50)))
    shard = layer._get_layer()._shards[0]
    receives = [asyncio.ensure_future(layer.receive(c)) for c in channels]
    await asyncio.sleep(0.05)
    async with shard._lock:  # a publish in the way: the unsubscriptions must wait for it
        for task in receives:
            task.cancel()
        await asyncio.sleep(0.05)
        for task in receives:
            task.cancel()  # and cancelled once more while leaving, as Daphne does
        results = await asyncio.gather(*receives, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await asyncio.sleep(0.2)
    assert set((await _numsub(layer, *channels)).values()) == {0}
    assert not [r for r in caplog.records if "cleaning-up channel" in r.getMessage()]
    await layer.flush()


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


async def test_other_layers_have_nothing_to_hook_or_publish_through():
    assert on_subscriber_reconnect(InMemoryChannelLayer(), Heard().reconnected) == 0
    assert not group_publish_supported(InMemoryChannelLayer())


def test_no_other_module_touches_the_layers_internals():
    names = re.compile(
        r"\._(get_layer|get_shard|get_group_channel_name|ensure_redis|redis|shards|pubsub)\b"
    )
    code = [
        p
        for app in ("realtime", "chat", "retention", "dsr", "agents", "feedback", "helao_chat")
        for p in (ROOT / app).rglob("*.py")
    ]
    users = {p for p in code if names.search(p.read_text())}
    assert users == {Path(layer_adapter.__file__)}
