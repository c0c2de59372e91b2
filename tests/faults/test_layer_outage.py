"""Redis cut while a visitor and an agent on two Daphne processes write to each other: both
sockets are told, catch up by themselves when it is back, and every message is shown once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
import websockets

from .stack import Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

#: Between two messages of one side: about 80 from each side in a 20-second outage.
PACE_SECONDS = 0.25


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(
        tmp_path_factory.mktemp("outage"),
        env={
            "CHAT_LAYER_PROBE_SECONDS": "1",
            # One visitor sends four messages a second here; the limits are not under test.
            "CHAT_MESSAGES_PER_MINUTE": "1000",
            "CHAT_MESSAGES_PER_MINUTE_PER_IP": "1000",
        },
    ) as running:
        yield running


class Side:
    """One open socket, read as its client would: messages shown once per id, whether they came
    live, in a `welcome` or in a `sync`; `hello` again on the same socket when the server says
    the layer is back."""

    def __init__(self, ws, name: str) -> None:
        self.ws = ws
        self.name = name
        self.token: str | None = None
        self.shown: dict[int, dict] = {}
        self.live = Counter()  # message.new frames per message id
        self.degraded: list[bool] = []
        self.resume_from: int | None = None
        self.waiting: dict[str, asyncio.Future] = {}
        self.frames: asyncio.Queue[dict] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    def hello(self) -> dict:
        last_seen_id = max(self.shown, default=None)
        frame = {"type": "hello", "last_seen_id": self.resume_from or last_seen_id}
        if self.token:
            frame["token"] = self.token
        return frame

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "message.new":
                self.live[frame["message"]["id"]] += 1
                self._show([frame["message"]])
            elif kind in ("welcome", "sync"):
                self._show(frame.get("messages") or [])
                if kind == "welcome" and self.degraded[-1:] != [True]:
                    self.resume_from = None
            elif kind == "message.ack":
                self._show([frame["message"]])
            elif kind == "degraded":
                self.degraded.append(frame["active"])
                if frame["active"] and self.resume_from is None:
                    # Own messages acknowledged during the outage get later ids than the
                    # other side's messages it hides: resume from before it, as the clients do.
                    self.resume_from = max(self.shown, default=0)
                if not frame["active"]:
                    await self.ws.send(json.dumps(self.hello()))
            key = frame.get("client_msg_id", frame.get("ref"))
            answer = self.waiting.pop(key, None) if kind in ("message.ack", "error") else None
            if answer is not None:
                answer.set_result(frame)
            await self.frames.put(frame)

    def _show(self, messages: list[dict]) -> None:
        for message in messages:
            self.shown.setdefault(message["id"], message)

    def shown_ids(self, prefix: str) -> list[str]:
        return [
            m["client_msg_id"]
            for m in self.shown.values()
            if (m.get("client_msg_id") or "").startswith(prefix)
        ]

    async def until(self, kind: str, timeout: float = 15) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                if frame["type"] == kind:
                    return frame

    async def store(self, frame: dict) -> None:
        """Sends a message until it is acknowledged, as the clients do."""
        while True:
            answer = self.waiting[frame["client_msg_id"]] = (
                asyncio.get_running_loop().create_future()
            )
            await self.ws.send(json.dumps({**frame, "ref": frame["client_msg_id"]}))
            result = await asyncio.wait_for(answer, 15)
            if result["type"] == "message.ack":
                return
            await asyncio.sleep(PACE_SECONDS)  # not stored (busy, or the database): resend


async def _chat_across_processes(stack) -> tuple[Side, Side, int]:
    second = stack.ports[1]
    cookie = await asyncio.to_thread(stack.login, "agent", second)
    origin = f"http://127.0.0.1:{second}"
    agent = Side(
        await websockets.connect(
            f"ws://127.0.0.1:{second}/ws/agent/",
            origin=origin,
            additional_headers={"Cookie": cookie},
        ),
        "agent",
    )
    await agent.ws.send(json.dumps({"type": "presence.set", "status": "online"}))
    await agent.ws.send(json.dumps({"type": "hello"}))
    await agent.until("welcome")
    visitor = Side(
        await websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url),
        "visitor",
    )
    await visitor.ws.send(
        json.dumps({"type": "conversation.start", "text": "hello", "client_msg_id": "start"})
    )
    started = await visitor.until("conversation.started")
    visitor.token = started["token"]
    conv_id = started["conversation"]["id"]
    await agent.ws.send(json.dumps({"type": "conversation.claim", "conversation_id": conv_id}))
    await agent.until("conversation.claim.ok")
    return visitor, agent, conv_id


async def _write(side: Side, prefix: str, stop: asyncio.Event, extra: dict) -> list[str]:
    sent = []
    while not stop.is_set():
        client_msg_id = f"{prefix}{len(sent)}"
        await side.store(
            {"type": "message.send", "text": client_msg_id, "client_msg_id": client_msg_id, **extra}
        )
        sent.append(client_msg_id)
        await asyncio.sleep(PACE_SECONDS)
    return sent


async def _until(condition, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("outage_seconds", [20])
async def test_a_redis_outage_is_told_to_both_sockets_which_catch_up_and_show_each_message_once(
    stack, outage_seconds
):
    visitor, agent, conv_id = await _chat_across_processes(stack)
    stop = asyncio.Event()
    writers = [
        asyncio.create_task(_write(visitor, "v", stop, {})),
        asyncio.create_task(_write(agent, "a", stop, {"conversation_id": conv_id})),
    ]
    # Both ways live before the cut.
    await _until(lambda: len(agent.shown_ids("v")) >= 3 and len(visitor.shown_ids("a")) >= 3, 15)
    loop = asyncio.get_running_loop()
    cut_at = loop.time()
    stack.redis.cut()
    await _until(lambda: visitor.degraded and agent.degraded, 15)
    assert visitor.degraded == agent.degraded == [True]
    await asyncio.sleep(max(0.0, cut_at + outage_seconds - loop.time()))
    stack.redis.restore()
    await _until(lambda: visitor.degraded[-1:] == agent.degraded[-1:] == [False], 30)
    # Live again both ways after the outage, then the writers stop.
    after = (len(agent.shown_ids("v")), len(visitor.shown_ids("a")))
    await _until(
        lambda: (
            len(agent.shown_ids("v")) > after[0] + 3 and len(visitor.shown_ids("a")) > after[1] + 3
        ),
        15,
    )
    stop.set()
    sent_by_visitor, sent_by_agent = await asyncio.gather(*writers)
    await _until(
        lambda: (
            set(agent.shown_ids("v")) == set(sent_by_visitor)
            and set(visitor.shown_ids("a")) == set(sent_by_agent)
        ),
        20,
    )

    assert len(sent_by_visitor) >= outage_seconds and len(sent_by_agent) >= outage_seconds
    for side in (visitor, agent):
        # Told once that the layer was down; "back" may come twice (its own process, and the
        # other process that lost publishes), never "down" again.
        assert side.degraded[0] is True and side.degraded.count(True) == 1
        assert side.degraded[-1] is False
        assert not [i for i, n in side.live.items() if n > 1], f"{side.name}: a message came twice"
        assert side.ws.close_code is None, f"{side.name}: the socket was closed"
    # Shown once each (0 missing, 0 twice), and stored once each; the outage did hide some of
    # them from the live stream, which the catch-up brought.
    for side, other in ((agent, "v"), (visitor, "a")):
        hidden = [i for i, m in side.shown.items() if (m["client_msg_id"] or "").startswith(other)]
        assert [i for i in hidden if i not in side.live], f"{side.name}: nothing was hidden"
    assert sorted(agent.shown_ids("v")) == sorted(sent_by_visitor)
    assert sorted(visitor.shown_ids("a")) == sorted(sent_by_agent)
    numbered = len(sent_by_visitor) + len(sent_by_agent)
    numbered_sql = "FROM chat_message WHERE conversation_id = %s AND client_msg_id ~ '^[va][0-9]+$'"
    rows = await asyncio.to_thread(stack.count, f"SELECT count(*) {numbered_sql}", conv_id)
    distinct = await asyncio.to_thread(
        stack.count, f"SELECT count(DISTINCT client_msg_id) {numbered_sql}", conv_id
    )
    assert rows == distinct == numbered
    for side in (visitor, agent):
        await side.ws.close()
        side.reader.cancel()
