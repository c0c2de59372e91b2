"""Floods, oversize frames and connection storms are bounded; other visitors are unaffected."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from chat.models import Message, VisitorConnection
from tests.conftest import visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _start(comm, cid="first"):
    await comm.send_json_to({"type": "conversation.start", "text": "hello", "client_msg_id": cid})
    while (await comm.receive_json_from(timeout=5))["type"] != "message.ack":
        pass


async def test_a_flood_from_one_visitor_is_throttled_and_others_still_get_through(
    agent_online, settings
):
    flooder = visitor_communicator(ip="203.0.113.50")
    calm = visitor_communicator(ip="198.51.100.20")
    await flooder.connect()
    await calm.connect()
    await _start(flooder)
    await _start(calm, "calm-first")
    began = asyncio.get_running_loop().time()
    for i in range(1000):
        await flooder.send_to(
            text_data=json.dumps(
                {"type": "message.send", "text": f"spam {i}", "client_msg_id": f"s{i}"}
            )
        )
    await calm.send_json_to({"type": "message.send", "text": "I need help", "client_msg_id": "c1"})
    while True:
        frame = await calm.receive_json_from(timeout=30)
        if frame["type"] == "message.ack":
            break
    acks = errors = 0
    closed = None
    while True:
        try:
            output = await flooder.receive_output(timeout=5)
        except TimeoutError:
            break
        if output["type"] == "websocket.close":
            closed = output["code"]
            break
        frame = json.loads(output["text"])
        if frame["type"] == "message.ack":
            acks += 1
        elif frame["type"] == "error":
            assert frame["code"] == "rate_limited"
            errors += 1
    stored = await database_sync_to_async(Message.objects.filter(text__startswith="spam").count)()
    assert stored == acks
    # A burst of one minute's allowance, plus what the bucket refilled while the flood lasted.
    elapsed = asyncio.get_running_loop().time() - began
    limit = settings.CHAT_MESSAGES_PER_MINUTE
    assert stored <= limit + int(elapsed * limit / 60) + 1
    assert stored < 100
    assert errors > 0
    # A sender that keeps going after being told to slow down is disconnected.
    assert closed in (None, 4029)
    await calm.disconnect()
    await flooder.disconnect()


async def test_an_oversize_frame_closes_only_that_socket(agent_online):
    big = visitor_communicator(ip="203.0.113.51")
    other = visitor_communicator(ip="203.0.113.52")
    await big.connect()
    await other.connect()
    await big.send_to(text_data="x" * (64 * 1024 + 1))
    assert (await big.receive_json_from())["code"] == "frame_too_large"
    assert await big.receive_output() == {"type": "websocket.close", "code": 4009}
    await other.send_json_to({"type": "ping"})
    assert await other.receive_json_from() == {"type": "pong"}
    await other.disconnect()


async def test_the_21st_connection_from_one_address_is_refused_while_another_connects(roles):
    open_sockets = []
    for _ in range(20):
        comm = visitor_communicator(ip="203.0.113.60")
        connected, _ = await comm.connect()
        assert connected
        open_sockets.append(comm)
    extra = visitor_communicator(ip="203.0.113.60")
    connected, _ = await extra.connect()
    assert not connected
    elsewhere = visitor_communicator(ip="203.0.113.61")
    connected, _ = await elsewhere.connect()
    assert connected
    await elsewhere.disconnect()
    # Closing one frees its slot.
    await open_sockets.pop().disconnect()
    again = visitor_communicator(ip="203.0.113.60")
    connected, _ = await again.connect()
    assert connected
    await again.disconnect()
    for comm in open_sockets:
        await comm.disconnect()


async def test_new_conversations_per_address_are_limited(agent_online, settings):
    settings.CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP = 2
    codes = []
    for i in range(3):
        comm = visitor_communicator(ip="203.0.113.70")
        await comm.connect()
        await comm.send_json_to(
            {"type": "conversation.start", "text": "hi", "client_msg_id": f"n{i}"}
        )
        codes.append((await comm.receive_json_from(timeout=5))["type"])
        await comm.disconnect()
    assert codes[:2] == ["conversation.started", "conversation.started"]
    assert codes[2] == "error"


async def test_a_spoofed_forwarded_for_header_does_not_change_the_stored_address(agent_online):
    comm = visitor_communicator(
        ip="203.0.113.80",
        headers=[(b"x-forwarded-for", b"192.0.2.1"), (b"x-real-ip", b"192.0.2.2")],
    )
    await comm.connect()
    await _start(comm)
    stored = await database_sync_to_async(
        lambda: VisitorConnection.objects.values_list("ip_address", flat=True).get()
    )()
    assert stored == "203.0.113.80"
    await comm.disconnect()


async def test_a_trusted_proxy_may_name_the_client(agent_online, settings):
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.5"]
    comm = visitor_communicator(
        ip="10.0.0.5", headers=[(b"x-forwarded-for", b"192.0.2.1, 198.51.100.33")]
    )
    await comm.connect()
    await _start(comm)
    stored = await database_sync_to_async(
        lambda: VisitorConnection.objects.values_list("ip_address", flat=True).get()
    )()
    # The right-most hop is the one our proxy saw; the left one is client-supplied.
    assert stored == "198.51.100.33"
    await comm.disconnect()


async def test_a_socket_that_never_speaks_is_closed(roles, settings):
    settings.CHAT_FIRST_FRAME_TIMEOUT_SECONDS = 1
    comm = visitor_communicator(ip="203.0.113.90")
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from(timeout=5)
    assert error["code"] == "idle"
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4008}


async def test_a_socket_that_stops_speaking_is_closed_but_pings_keep_it(roles, settings):
    settings.CHAT_FIRST_FRAME_TIMEOUT_SECONDS = 1
    settings.CHAT_IDLE_TIMEOUT_SECONDS = 2
    comm = visitor_communicator(ip="203.0.113.91")
    await comm.connect()
    for _ in range(4):
        assert await comm.receive_nothing(timeout=0.8), "closed while it was still speaking"
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
    error = await comm.receive_json_from(timeout=10)
    assert error["code"] == "idle"
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4008}
