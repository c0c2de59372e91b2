"""A consumer reads its frames and its channel's messages as Daphne serves it (both mailboxes,
one future), or through Channels' own loop under another server; either way the same."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from helao_chat.asgi import application
from realtime import events, layer_adapter
from realtime.sockets import JsonFrameConsumer
from tests.addresses import REDIS_URL
from tests.conftest import ORIGIN, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_layer(settings):
    """The production layer (Redis pub/sub, each channel's queue a mailbox) for this test."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"test-served-{uuid.uuid4().hex[:8]}"},
        }
    }
    yield get_channel_layer()


def _plain_communicator() -> WebsocketCommunicator:
    """A test server's socket: its frames in an `asyncio.Queue`, not a mailbox."""
    comm = WebsocketCommunicator(
        application,
        "/ws/visitor/",
        headers=[(b"origin", ORIGIN.encode()), (b"host", b"testserver")],
    )
    comm.scope["client"] = ("203.0.113.90", 50000)
    return comm


def _consumer_of(before: set[JsonFrameConsumer]) -> JsonFrameConsumer:
    from realtime import sockets

    (consumer,) = sockets._running - before
    return consumer


@pytest.mark.parametrize("served", [True, False], ids=["mailboxes", "channels-loop"])
async def test_frames_and_group_events_reach_the_socket_and_its_channel_goes_with_it(
    roles, redis_layer, served
):
    from realtime import sockets

    before = set(sockets._running)
    comm = visitor_communicator(ip="203.0.113.91") if served else _plain_communicator()
    connected, _ = await comm.connect()
    assert connected
    consumer = _consumer_of(before)
    layer = redis_layer
    box = layer_adapter.channel_mailbox(layer, consumer.channel_name)
    assert box is not None

    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
    # An event to a group the socket follows, and a frame, both waiting at once: both are
    # handled, the frame first.
    event = {"type": "availability", "agents_online": True}
    await layer.group_send(events.VISITORS_GROUP, events.envelope(event))
    await comm.send_json_to({"type": "ping"})
    got = [await comm.receive_json_from(timeout=5) for _ in range(2)]
    assert {"type": "pong"} in got
    assert any(frame.get("type") == "availability" for frame in got)

    await comm.disconnect()
    for _ in range(50):
        if layer_adapter.channel_mailbox(layer, consumer.channel_name) is None:
            break
        await asyncio.sleep(0.05)
    assert layer_adapter.channel_mailbox(layer, consumer.channel_name) is None


async def test_a_socket_cancelled_by_its_server_forgets_its_channel(roles, redis_layer):
    from realtime import sockets

    before = set(sockets._running)
    comm = visitor_communicator(ip="203.0.113.92")
    connected, _ = await comm.connect()
    assert connected
    consumer = _consumer_of(before)
    layer = redis_layer
    assert layer_adapter.channel_mailbox(layer, consumer.channel_name) is not None
    comm.future.cancel()  # Daphne cancels an application it gives up on
    with pytest.raises(asyncio.CancelledError):
        await comm.future
    assert layer_adapter.channel_mailbox(layer, consumer.channel_name) is None


async def test_with_the_in_memory_layer_the_socket_works_through_channels_loop(roles):
    """Without Redis (make run's default) the channel is not a mailbox: Channels' own loop."""
    comm = visitor_communicator(ip="203.0.113.93")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
    await get_channel_layer().group_send(
        events.VISITORS_GROUP, events.envelope({"type": "availability", "agents_online": False})
    )
    assert (await comm.receive_json_from(timeout=5))["type"] == "availability"
    await comm.disconnect()
