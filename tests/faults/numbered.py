"""Numbered messages both ways through a failover: clients that behave like the widget and the
console (reconnect, resume from the last id seen, resend what was not acknowledged) and the
figures a failover test reports: lost, duplicated, longest gap.

A visitor socket per conversation and one agent socket for all of them send numbered texts
(`v<conv>-<n>`, `a<conv>-<n>`) at a steady pace until told to stop. Each side records, by message
id, what it received of the other side's texts and when the first copy arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# Clients connect from another loopback address than nginx's, as visitors do from elsewhere: the
# server tells a proxied client from the proxy by address.
CLIENT_ADDRESS = ("127.0.0.2", 0)
RETRYABLE = {"not_stored", "overloaded", "rate_limited", "server_error"}


def origin_of(url: str) -> str:
    """The page origin a browser would send to the websocket at `url`."""
    scheme, rest = url.split("://", 1)
    return f"{'https' if scheme == 'wss' else 'http'}://{rest.split('/', 1)[0]}"


def insecure_tls() -> ssl.SSLContext:
    """A client context for the test's self-signed certificate on loopback."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Side:
    """One socket's worth of a chat: what it sent, what was acknowledged, what it received."""

    name: str
    url: Callable[[], str]  # where to connect now (a proxy, or one of the processes)
    origin: str | None
    other: str  # the sender label of the other side's messages ("agent" / "visitor")
    headers: dict[str, str] = field(default_factory=dict)
    conversations: list[int] = field(default_factory=list)  # agent: the chats it answers
    token: str | None = None
    tls: ssl.SSLContext | None = None
    sent: dict[str, dict] = field(default_factory=dict)  # client_msg_id -> frame
    acked: set[str] = field(default_factory=set)
    seen: dict[int, str] = field(default_factory=dict)  # message id -> text of the other side
    arrivals: list[float] = field(default_factory=list)  # when each new text first arrived
    last_id: int = 0
    reconnects: int = 0
    events: list = field(default_factory=list)
    restarts: int = 0
    ws: websockets.ClientConnection | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    # --- frames in ----------------------------------------------------------------------------

    def take(self, data: dict) -> list[dict]:
        """Records one frame; returns the frames to send in answer (the next page, resends)."""
        answers = []
        kind = data.get("type")
        if kind == "message.ack":
            self.acked.add(data["client_msg_id"])
        elif kind == "error" and data.get("code") in RETRYABLE:
            # Not stored: resend after the delay asked for (as the widget and console do).
            cid = data.get("ref")
            if cid in self.sent and cid not in self.acked:
                delay = data.get("retry_after_ms", 500) / 1000
                asyncio.get_running_loop().call_later(
                    delay, lambda: asyncio.ensure_future(self.send(cid, self.sent[cid]))
                )
        messages = list(data.get("messages") or [])
        if isinstance(data.get("message"), dict):
            messages.append(data["message"])
        for message in messages:
            # An agent's socket also brings its earlier chats (an earlier test's, on the same
            # stack): only the chats of this run count.
            theirs = not self.conversations or message.get("conversation_id") in self.conversations
            if theirs and message.get("sender") == self.other and message["id"] not in self.seen:
                if message["text"] not in self.seen.values():
                    self.arrivals.append(time.monotonic())
                self.seen[message["id"]] = message["text"]
            self.last_id = max(self.last_id, message["id"])
        if data.get("more") and (data.get("next") or {}).get("messages"):
            answers.append(data["next"]["messages"])
        if kind == "degraded" and not data.get("active"):
            # Live updates are back: catch up on what the broadcasts may have missed.
            answers.append({"type": "sync", "last_seen_id": self.last_id})
        if kind == "welcome":
            # Resumed: whatever was sent and not acknowledged goes again (idempotent per id).
            answers += [f for cid, f in self.sent.items() if cid not in self.acked]
            self.ready.set()
        return answers

    # --- the connection -----------------------------------------------------------------------

    async def _connect(self) -> None:
        url = self.url()
        ws = await websockets.connect(
            url,
            origin=self.origin or origin_of(url),
            additional_headers=self.headers,
            ssl=self.tls,
            open_timeout=10,
            local_addr=CLIENT_ADDRESS,
        )
        self.ws = ws
        if self.token is None and not self.conversations:
            raise RuntimeError("a visitor side needs its conversation started first")
        hello = {"type": "hello", "last_seen_id": self.last_id}
        if self.token:
            hello["token"] = self.token
        await ws.send(json.dumps(hello))

    async def run(self, finished: asyncio.Event) -> None:
        """Keeps a connection open (reconnecting as the clients do) until `finished`."""
        while not finished.is_set():
            delay = random.uniform(0.1, 0.4)
            try:
                await self._connect()
                async for raw in self.ws:
                    data = json.loads(raw)
                    if data.get("type") == "restart":
                        self.restarts += 1
                        delay = data["retry_after_ms"] / 1000
                        self.events.append((round(time.monotonic(), 2), "restart"))
                    for frame in self.take(data):
                        await self.ws.send(json.dumps(frame))
            except (
                ConnectionClosed,
                InvalidHandshake,
                InvalidStatus,
                OSError,
                TimeoutError,
            ) as exc:
                self.events.append((round(time.monotonic(), 2), repr(exc)[:80]))
            self.ready.clear()
            ws, self.ws = self.ws, None
            if ws is not None:
                await ws.close()
            if finished.is_set():
                return
            self.reconnects += 1
            await asyncio.sleep(delay)

    async def send(self, cid: str, frame: dict) -> None:
        self.sent[cid] = frame
        if cid in self.acked:
            return
        if self.ws is not None and self.ready.is_set():
            # If the socket is going, the frame is resent after the next welcome.
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(frame))


class NumberedChat:
    """`conversations` chats between visitors and one agent, sending numbered texts both ways."""

    def __init__(self, sides: list[Side], agent: Side) -> None:
        self.visitors = sides
        self.agent = agent
        self.stop = asyncio.Event()
        self.finished = asyncio.Event()
        self.started = time.monotonic()

    async def send_until_stopped(self, interval: float) -> None:
        n = 0
        while not self.stop.is_set():
            for index, visitor in enumerate(self.visitors):
                cid = f"v{index}-{n}"
                frame = {"type": "message.send", "text": cid, "client_msg_id": cid, "ref": cid}
                await visitor.send(cid, frame)
                cid = f"a{index}-{n}"
                frame = {
                    "type": "message.send",
                    "conversation_id": self.agent.conversations[index],
                    "text": cid,
                    "client_msg_id": cid,
                    "ref": cid,
                }
                await self.agent.send(cid, frame)
            n += 1
            await asyncio.sleep(interval)

    def expected(self) -> tuple[set[str], set[str]]:
        """(the visitors' texts, the agent's texts) that were handed to a socket."""
        visitors = set().union(*(set(v.sent) for v in self.visitors))
        return visitors, set(self.agent.sent)

    def complete(self) -> bool:
        from_visitors, from_agent = self.expected()
        received_by_visitors = set().union(*(set(v.seen.values()) for v in self.visitors))
        return (
            all(v.acked >= set(v.sent) for v in self.visitors)
            and self.agent.acked >= set(self.agent.sent)
            and set(self.agent.seen.values()) >= from_visitors
            and received_by_visitors >= from_agent
        )

    def figures(self) -> dict:
        """lost / duplicated as the clients saw them, and the longest gap in delivery."""
        from_visitors, from_agent = self.expected()
        received_by_visitors: list[str] = [t for v in self.visitors for t in v.seen.values()]
        received_by_agent = list(self.agent.seen.values())
        lost = len(from_visitors - set(received_by_agent)) + len(
            from_agent - set(received_by_visitors)
        )
        # The same text under two message ids would be a message stored twice.
        duplicated = (len(received_by_agent) - len(set(received_by_agent))) + (
            len(received_by_visitors) - len(set(received_by_visitors))
        )
        gaps = []
        for side in [*self.visitors, self.agent]:
            times = sorted(side.arrivals)
            gaps += [b - a for a, b in itertools.pairwise(times)]
        return {
            "sent": len(from_visitors) + len(from_agent),
            "lost": lost,
            "duplicated": duplicated,
            "longest_gap_s": round(max(gaps, default=0.0), 2),
            "reconnects": sum(s.reconnects for s in [*self.visitors, self.agent]),
            "restart_frames": sum(s.restarts for s in [*self.visitors, self.agent]),
        }


class Refused(AssertionError):
    """The server answered a set-up frame with an error."""

    def __init__(self, frame: dict) -> None:
        super().__init__(f"refused: {frame}")
        self.frame = frame


async def open_chats(
    *,
    count: int,
    visitor_url: Callable[[], str],
    agent_url: Callable[[], str],
    origin: str | None,
    cookie: str,
    tls: ssl.SSLContext | None = None,
) -> NumberedChat:
    """Starts `count` conversations and has the agent claim them all; returns the chat."""

    async def until(ws, kind: str) -> dict:
        async def wait() -> dict:
            while True:
                data = json.loads(await ws.recv())
                if data["type"] == kind:
                    return data
                # A refusal while setting up fails at once, saying why (not after 20 s).
                if data["type"] == "error":
                    raise Refused(data)

        return await asyncio.wait_for(wait(), 20)

    agent_ws = await websockets.connect(
        agent_url(),
        origin=origin or origin_of(agent_url()),
        additional_headers={"Cookie": cookie},
        ssl=tls,
        local_addr=CLIENT_ADDRESS,
    )
    await agent_ws.send(json.dumps({"type": "presence.set", "status": "online"}))
    await agent_ws.send(json.dumps({"type": "ping"}))
    await until(agent_ws, "pong")
    visitors, conversations = [], []
    for index in range(count):
        ws = await websockets.connect(
            visitor_url(),
            origin=origin or origin_of(visitor_url()),
            ssl=tls,
            local_addr=CLIENT_ADDRESS,
        )
        cid = f"start-{index}-{random.random()}"
        await ws.send(json.dumps({"type": "conversation.start", "text": cid, "client_msg_id": cid}))
        started = await until(ws, "conversation.started")
        conversations.append(started["conversation"]["id"])
        await ws.close()
        visitors.append(
            Side(
                name=f"visitor{index}",
                url=visitor_url,
                origin=origin,
                other="agent",
                token=started["token"],
                tls=tls,
            )
        )
    for conversation_id in conversations:
        await agent_ws.send(
            json.dumps({"type": "conversation.claim", "conversation_id": conversation_id})
        )
        await until(agent_ws, "conversation.claim.ok")
    await agent_ws.close()
    agent = Side(
        name="agent",
        url=agent_url,
        origin=origin,
        other="visitor",
        headers={"Cookie": cookie},
        conversations=conversations,
        tls=tls,
    )
    return NumberedChat(visitors, agent)


async def run_through(chat: NumberedChat, event, *, interval: float = 0.05) -> dict:
    """Chats both ways, runs `event()` (a coroutine: the failover), stops sending, waits until
    everything sent was acknowledged and received; returns the figures."""
    sockets = [asyncio.create_task(s.run(chat.finished)) for s in [*chat.visitors, chat.agent]]
    await asyncio.wait_for(
        asyncio.gather(*(s.ready.wait() for s in [*chat.visitors, chat.agent])), 20
    )
    sender = asyncio.create_task(chat.send_until_stopped(interval))
    await asyncio.sleep(1)
    await event()
    await asyncio.sleep(1)
    chat.stop.set()
    await sender

    async def everything_arrived() -> None:
        while not chat.complete():
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(everything_arrived(), 60)
    except TimeoutError:
        from_visitors, from_agent = chat.expected()
        received = set().union(*(set(v.seen.values()) for v in chat.visitors))
        for side in [*chat.visitors, chat.agent]:
            print(side.name, "unacked", sorted(set(side.sent) - side.acked)[:10], side.events[-5:])
        print("agent missing", sorted(from_visitors - set(chat.agent.seen.values()))[:20])
        print("visitors missing", sorted(from_agent - received)[:20])
        raise
    finally:
        chat.finished.set()
        for side in [*chat.visitors, chat.agent]:
            if side.ws is not None:
                await side.ws.close()
        await asyncio.wait_for(asyncio.gather(*sockets, return_exceptions=True), 20)
    return chat.figures()
