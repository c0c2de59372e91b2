"""A Daphne process stopped with SIGTERM while a chat goes on both ways and many idle panels are
open: its sockets are told to reconnect (a `restart` frame with a delay, close 4012), the
process exits by itself without an error in its log, and after the clients resume on the
restarted process every message is stored once and seen by the other side, none missing."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from .stack import Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

COUNT = 30
#: Idle visitor panels open at the stop: each consumer used to be cancelled while it left its
#: Redis channel, and channels-redis logged an error for each.
IDLE = 100
#: The listening socket's queue (LISTEN_BACKLOG); Twisted's own default is 50.
BACKLOG = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(
        tmp_path_factory.mktemp("graceful"),
        env={
            "CHAT_RESTART_SPREAD_SECONDS": "1",
            "CHAT_MAX_CONNECTIONS_PER_IP": str(IDLE + 10),
            "LISTEN_BACKLOG": str(BACKLOG),
        },
    ) as running:
        yield running


class Side:
    """One end of the chat: what it sent, what was acknowledged, what it saw of the other."""

    def __init__(self, name: str, frame: dict) -> None:
        self.name = name
        self.frame = frame  # the message.send frame without text and client_msg_id
        self.acked: set[str] = set()
        self.seen: dict[int, str] = {}  # message id -> text, of the other side's messages
        self.last_id = 0
        self.restart: dict | None = None
        self.close_code: int | None = None

    def take(self, data: dict) -> None:
        if data["type"] == "message.ack":
            self.acked.add(data["client_msg_id"])
        for message in [data.get("message")] if data.get("message") else data.get("messages", []):
            if message and message.get("sender") not in (self.name, "system"):
                self.seen[message["id"]] = message["text"]
        ids = [m["id"] for m in data.get("messages", [])]
        if data.get("message"):
            ids.append(data["message"]["id"])
        self.last_id = max([self.last_id, *ids])
        if data["type"] == "restart":
            self.restart = data

    async def read(self, ws) -> None:
        try:
            async for raw in ws:
                self.take(json.loads(raw))
        except ConnectionClosed:
            pass
        self.close_code = ws.close_code

    async def send_all(self, ws, numbers) -> None:
        for i in numbers:
            cid = f"{self.name}-{i}"
            if cid in self.acked:
                continue
            try:
                await ws.send(json.dumps({**self.frame, "text": cid, "client_msg_id": cid}))
            except ConnectionClosed:
                return
            await asyncio.sleep(0.02)


async def _next(ws, kind: str) -> dict:
    async def wait() -> dict:
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == kind:
                return data

    return await asyncio.wait_for(wait(), 15)


async def _agent(stack, cookie: str):
    ws = await websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/agent/",
        origin=stack.url,
        additional_headers={"Cookie": cookie},
    )
    return ws


async def test_sigterm_tells_every_socket_to_reconnect_and_loses_nothing(stack):
    cookie = await asyncio.to_thread(stack.login)
    agent_ws = await _agent(stack, cookie)
    await agent_ws.send(json.dumps({"type": "presence.set", "status": "online"}))
    await agent_ws.send(json.dumps({"type": "ping"}))
    await _next(agent_ws, "pong")
    visitor_ws = await websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url
    )
    await visitor_ws.send(
        json.dumps({"type": "conversation.start", "text": "hello", "client_msg_id": "start"})
    )
    token = (await _next(visitor_ws, "conversation.started"))["token"]
    conv_id = (await _next(visitor_ws, "message.ack"))["message"]["conversation_id"]
    await agent_ws.send(json.dumps({"type": "conversation.claim", "conversation_id": conv_id}))
    await _next(agent_ws, "conversation.claim.ok")

    visitor = Side("visitor", {"type": "message.send"})
    agent = Side("agent", {"type": "message.send", "conversation_id": conv_id})
    readers = [
        asyncio.create_task(visitor.read(visitor_ws)),
        asyncio.create_task(agent.read(agent_ws)),
    ]
    senders = [
        asyncio.create_task(visitor.send_all(visitor_ws, range(COUNT))),
        asyncio.create_task(agent.send_all(agent_ws, range(COUNT))),
    ]
    idle = []
    for _ in range(IDLE):
        ws = await websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url)
        await ws.send(json.dumps({"type": "hello", "lang": "fi"}))
        idle.append(ws)
    for ws in idle:
        await _next(ws, "welcome")
    while len(visitor.acked) < 5 or len(agent.acked) < 5:
        await asyncio.sleep(0.02)
    log_before = len(stack.log(0))
    stack.processes[0].send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*readers), 20)
    await asyncio.gather(*senders)
    assert await asyncio.to_thread(stack.processes[0].wait, 20) == 0, "exits by itself"
    for side in (visitor, agent):
        assert side.close_code == 4012, side.name
        assert side.restart is not None and 0 < side.restart["retry_after_ms"] <= 1000
    for ws in idle:
        await _next(ws, "restart")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 15)
        assert ws.close_code == 4012
    stopping = stack.log(0)[log_before:]
    assert f"stopping: {IDLE + 2} socket(s) told to reconnect" in stopping
    for noise in ("Traceback", "ERROR", "cleaning-up channel", "Disconnected", "exception"):
        assert noise not in stopping, stopping[-3000:]

    # The clients come back (here after the restart's delay, to the restarted process), resume
    # from the last id they had, and resend whatever was not acknowledged.
    stack.restart(0)
    await asyncio.sleep(
        max(visitor.restart["retry_after_ms"], agent.restart["retry_after_ms"]) / 1000
    )
    visitor_ws = await websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url
    )
    await visitor_ws.send(
        json.dumps({"type": "hello", "token": token, "last_seen_id": visitor.last_id})
    )
    visitor.take(await _next(visitor_ws, "welcome"))
    agent_ws = await _agent(stack, cookie)
    await agent_ws.send(json.dumps({"type": "hello", "last_seen_id": agent.last_id}))
    agent.take(await _next(agent_ws, "welcome"))
    readers = [
        asyncio.create_task(visitor.read(visitor_ws)),
        asyncio.create_task(agent.read(agent_ws)),
    ]
    await visitor.send_all(visitor_ws, range(COUNT))
    await agent.send_all(agent_ws, range(COUNT))

    expected = {side.name: {f"{side.name}-{i}" for i in range(COUNT)} for side in (visitor, agent)}

    async def everything_arrived() -> None:
        while not (
            visitor.acked == expected["visitor"]
            and agent.acked == expected["agent"]
            and set(visitor.seen.values()) >= expected["agent"]
            and set(agent.seen.values()) >= expected["visitor"]
        ):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(everything_arrived(), 20)
    for texts in expected.values():
        for text in texts:
            assert stack.count("SELECT count(*) FROM chat_message WHERE text = %s", text) == 1
    await visitor_ws.close()
    await agent_ws.close()
    await asyncio.gather(*readers)


def test_the_listening_socket_queues_listen_backlog_connections(stack):
    # Every socket of a restarted process comes back within seconds: with Twisted's 50, the
    # kernel dropped the new connections' SYNs and the clients waited for TCP to retry.
    ss = shutil.which("ss")
    assert ss, "ss (iproute2) is needed to read a listening socket's backlog"
    out = subprocess.run(
        [ss, "-Hltn", f"sport = :{stack.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "LISTEN"
    assert int(out[2]) == BACKLOG  # a listening socket's Send-Q is its backlog
