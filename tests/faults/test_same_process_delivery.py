"""Events delivered in the publishing process at once and to the other process through Redis,
on two real Daphne processes: one conversation followed from both (the visitor in two tabs, the
agent's console in two tabs, one of each per process), everybody writing at once. Every socket
sees every message of the others exactly once, each sender's in the order it sent them, and
none of its own; the process's own echo from Redis is never delivered a second time."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from .stack import Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

COUNT = 25


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("delivery")) as running:
        yield running


async def _next(ws, kind: str) -> dict:
    async def wait() -> dict:
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == kind:
                return data

    return await asyncio.wait_for(wait(), 15)


class Reader:
    """One socket's `message.new` frames, in the order they arrived."""

    def __init__(self, name: str, ws) -> None:
        self.name = name
        self.ws = ws
        self.new: list[dict] = []
        self.acked: set[str] = set()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                data = json.loads(raw)
                if data["type"] == "message.new":
                    self.new.append(data["message"])
                elif data["type"] == "message.ack":
                    self.acked.add(data["client_msg_id"])
        except ConnectionClosed:
            pass

    async def send_all(self, frame: dict) -> None:
        for i in range(COUNT):
            cid = f"{self.name}-{i}"
            await self.ws.send(json.dumps({**frame, "text": cid, "client_msg_id": cid}))
            await asyncio.sleep(0.005)


async def test_a_group_with_members_in_both_processes_gets_each_event_once_in_order(stack):
    cookie = await asyncio.to_thread(stack.login)
    origins = [f"ws://127.0.0.1:{port}" for port in stack.ports]
    # Same-origin sockets: each process's own address.
    pages = [f"http://127.0.0.1:{port}" for port in stack.ports]

    async def console(index: int):
        ws = await websockets.connect(
            f"{origins[index]}/ws/agent/",
            origin=pages[index],
            additional_headers={"Cookie": cookie},
        )
        await ws.send(json.dumps({"type": "presence.set", "status": "online"}))
        await ws.send(json.dumps({"type": "ping"}))
        await _next(ws, "pong")
        return ws

    console_0 = await console(0)
    visitor_0 = await websockets.connect(f"{origins[0]}/ws/visitor/", origin=pages[0])
    await visitor_0.send(
        json.dumps({"type": "conversation.start", "text": "hello", "client_msg_id": "start"})
    )
    token = (await _next(visitor_0, "conversation.started"))["token"]
    conv_id = (await _next(visitor_0, "message.ack"))["message"]["conversation_id"]
    await console_0.send(json.dumps({"type": "conversation.claim", "conversation_id": conv_id}))
    await _next(console_0, "conversation.claim.ok")
    # The second tabs, on the other process: the console follows the agent's chats on `hello`,
    # the visitor's panel its conversation by token.
    console_1 = await console(1)
    await console_1.send(json.dumps({"type": "hello"}))
    await _next(console_1, "welcome")
    visitor_1 = await websockets.connect(f"{origins[1]}/ws/visitor/", origin=pages[1])
    await visitor_1.send(json.dumps({"type": "hello", "token": token}))
    await _next(visitor_1, "welcome")

    readers = {
        "visitor0": Reader("visitor0", visitor_0),
        "visitor1": Reader("visitor1", visitor_1),
        "console0": Reader("console0", console_0),
        "console1": Reader("console1", console_1),
    }
    agent_frame = {"type": "message.send", "conversation_id": conv_id}
    await asyncio.gather(
        readers["visitor0"].send_all({"type": "message.send"}),
        readers["visitor1"].send_all({"type": "message.send"}),
        readers["console0"].send_all(agent_frame),
        readers["console1"].send_all(agent_frame),
    )
    everything = {f"{name}-{i}" for name in readers for i in range(COUNT)}

    def others(name: str) -> set[str]:
        return {text for text in everything if not text.startswith(f"{name}-")}

    async def arrived() -> None:
        while not all(
            set().union(*(r.acked for r in readers.values())) == everything
            and {m["text"] for m in reader.new} >= others(name)
            for name, reader in readers.items()
        ):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(arrived(), 30)
    # Anything late would show up here as a duplicate.
    await asyncio.sleep(0.5)
    for name, reader in readers.items():
        texts = [m["text"] for m in reader.new if m["text"] in others(name)]
        assert len(texts) == len(set(texts)), f"{name} got a message twice"
        by_sender: dict[str, list[int]] = defaultdict(list)
        for text in texts:
            sender, n = text.rsplit("-", 1)
            by_sender[sender].append(int(n))
        for sender, numbers in by_sender.items():
            assert numbers == list(range(COUNT)), f"{name} got {sender}'s out of order"
        ids = [m["id"] for m in reader.new]
        assert len(ids) == len(set(ids)), f"{name} got an id twice"
        # Its own messages were acknowledged, not sent back (a console takes them pipelined,
        # so one may reach it from this process before the acknowledgement is sent).
        assert not [m for m in reader.new if m["text"].startswith(f"{name}-")], name
    for text in everything:
        assert stack.count("SELECT count(*) FROM chat_message WHERE text = %s", text) == 1
    for reader in readers.values():
        await reader.ws.close()
    await asyncio.gather(*(r.task for r in readers.values()))
