"""Closing every socket for a restart (`sockets_close_for_restart`, run on SIGTERM by
helao_chat/serve.py): it returns only once each consumer has ended, so that the process stops
with nothing cancelled half-way (channels-redis logged an error per socket cancelled while
leaving its Redis channel) and nothing lost."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels_redis.pubsub import RedisSingleShardConnection

from realtime import sockets
from tests.conftest import receive_type, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SOCKETS = 40


async def _client(comm) -> dict:
    """Reads until the server closes, then goes away as a browser does (Daphne's disconnect)."""
    restart = None
    while True:
        output = await comm.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            await comm.send_input({"type": "websocket.disconnect", "code": output["code"]})
            return {"restart": restart, "code": output["code"]}
        if output["type"] == "websocket.send" and '"restart"' in output.get("text", ""):
            restart = output["text"]


async def test_a_restart_close_returns_once_every_consumer_has_ended_without_an_error(
    caplog, monkeypatch
):
    caplog.set_level(logging.WARNING)
    # A Redis slow to answer an UNSUBSCRIBE: a consumer that lets go is still leaving its
    # channel and groups well after its socket was released.
    real = RedisSingleShardConnection.unsubscribe

    async def slow_unsubscribe(self, channel):
        await asyncio.sleep(0.3)
        await real(self, channel)

    monkeypatch.setattr(RedisSingleShardConnection, "unsubscribe", slow_unsubscribe)
    comms = []
    for n in range(SOCKETS):
        comm = visitor_communicator(ip=f"203.0.113.{n + 1}")
        connected, _ = await comm.connect()
        assert connected
        await comm.send_json_to({"type": "hello", "lang": "fi"})
        await receive_type(comm, "welcome")
        comms.append(comm)
    clients = [asyncio.create_task(_client(comm)) for comm in comms]
    closed = await sockets.sockets_close_for_restart(spread_seconds=1, timeout=20)
    assert closed == SOCKETS
    # Every consumer has returned: none is left for the stopping process to cancel.
    assert all(comm.future.done() and not comm.future.cancelled() for comm in comms)
    assert not getattr(sockets, "_running", None)
    for result in await asyncio.gather(*clients):
        assert result["code"] == 4012 and result["restart"] is not None
    assert "cleaning-up channel" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_with_no_socket_open_it_returns_at_once():
    assert await sockets.sockets_close_for_restart(spread_seconds=1, timeout=5) == 0


async def test_a_socket_the_server_closed_sends_nothing_more():
    """An event or an acknowledgement that arrives after the restart close has nowhere to go:
    sending it raised in the web server (Autobahn's Disconnected) and was logged as a crash."""

    async def send(**kwargs):
        raise AssertionError("sent on a closed socket")

    consumer = sockets.JsonFrameConsumer()
    consumer.send = send
    consumer.closing = True
    await consumer.send_json({"type": "message.new"})
    await consumer.send_error("not_stored")
