"""The load generator: N visitor/agent conversation pairs sending at a fixed total rate.

Send and receive are timed in this one process (time.perf_counter), so latencies need no clock
sync. A message counts as delivered when the *other* side receives `message.new` with its
(conversation, client_msg_id, sender); a second receipt is a duplicate; an error frame naming it
(`ref`) is a refusal; anything neither delivered nor refused when the drain time is over is lost.

Protocols: `ProductProtocol` speaks the real widget and console protocol (conversation.start,
conversation.claim, message.send); `BaselineProtocol` speaks the baselines' minimal one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _connect

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def connect(url: str, **options: Any):
    """A websocket as a browser opens one: it sends no protocol pings of its own (the websockets
    library's default is one every 20 s), only the page's `ping` frames; it answers the server's.
    """
    return _connect(url, ping_interval=None, **options)


TEXT = "Hei! Onko kurssille vielä tilaa syksyllä? Kiitos vastauksesta."
# The console's presence heartbeat with the default CHAT_AGENT_OFFLINE_GRACE_SECONDS (30 s / 3).
HEARTBEAT_SECONDS = 10.0
#: Tries of a conversation.start that a shedding server refused as `overloaded`.
START_ATTEMPTS = 5


class Refused(RuntimeError):
    """The server answered a frame with an error; `code` is the error's code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"server refused: {code}")
        self.code = code


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class Tracker:
    """What was sent, what arrived where, and when."""

    sent: dict[tuple[int, str], tuple[float, str]] = field(default_factory=dict)
    delivered: dict[tuple[int, str], float] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    unexpected: int = 0
    errors: Counter = field(default_factory=Counter)
    lat_v2a: list[float] = field(default_factory=list)
    lat_a2v: list[float] = field(default_factory=list)

    def on_send(self, conv: int, cmid: str, sender: str) -> None:
        self.sent[(conv, cmid)] = (time.perf_counter(), sender)

    def on_message(self, side: str, message: dict[str, Any], now: float) -> None:
        sender = message.get("sender")
        if sender == side or sender == "system":
            return  # our own echo, or a system line
        key = (int(message.get("conversation_id") or 0), message.get("client_msg_id") or "")
        sent = self.sent.get(key)
        if sent is None:
            self.unexpected += 1
            return
        if key in self.delivered:
            self.duplicates += 1
            return
        self.delivered[key] = now
        latency = (now - sent[0]) * 1000
        (self.lat_v2a if sent[1] == "visitor" else self.lat_a2v).append(latency)

    def on_error(self, frame: dict[str, Any]) -> None:
        self.errors[frame.get("code", "?")] += 1
        ref = frame.get("ref")
        if isinstance(ref, str):
            self.refused[ref] = frame.get("code", "?")

    def outstanding(self) -> int:
        done = len(self.delivered)
        refused = sum(1 for (_, cmid) in self.sent if cmid in self.refused)
        return len(self.sent) - done - refused

    def summary(self) -> dict[str, Any]:
        lat = self.lat_v2a + self.lat_a2v
        refused = sum(1 for (_, cmid) in self.sent if cmid in self.refused)
        lost = len(self.sent) - len(self.delivered) - refused
        return {
            "sent": len(self.sent),
            "delivered": len(self.delivered),
            "refused": refused,
            "lost": max(lost, 0),
            "duplicates": self.duplicates,
            "errors": dict(self.errors),
            "p50_ms": _r(percentile(lat, 50)),
            "p99_ms": _r(percentile(lat, 99)),
            "max_ms": _r(max(lat) if lat else None),
            "p99_v2a_ms": _r(percentile(self.lat_v2a, 99)),
            "p99_a2v_ms": _r(percentile(self.lat_a2v, 99)),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


class Sock:
    """One websocket with a reader task and a writer queue (never two sends at once)."""

    def __init__(self, ws: ClientConnection, side: str, run: Run) -> None:
        self.ws = ws
        self.side = side
        self.run = run
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.waiters: dict[tuple[str, Any], asyncio.Future] = {}
        self.tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._writer())]
        self.closed = False

    def send(self, frame: dict[str, Any]) -> None:
        self.queue.put_nowait(json.dumps(frame, separators=(",", ":")))

    def wait_for(self, key: tuple[str, Any]) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[key] = fut
        return fut

    def _resolve(self, key: tuple[str, Any], value: Any, error: bool = False) -> bool:
        fut = self.waiters.pop(key, None)
        if fut is None or fut.done():
            return False
        if error:
            fut.set_exception(Refused(value))
        else:
            fut.set_result(value)
        return True

    async def _writer(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self.ws.send(await self.queue.get())

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message.new":
                    # Late arrivals are credited to the step that sent them.
                    cmid = frame["message"].get("client_msg_id") or ""
                    tracker = self.run.owner.get(cmid, self.run.tracker)
                    tracker.on_message(self.side, frame["message"], now)
                elif kind == "error":
                    if not self._resolve(("ref", frame.get("ref")), frame.get("code"), True):
                        self.run.owner.get(frame.get("ref"), self.run.tracker).on_error(frame)
                elif kind == "conversation.started":
                    self._resolve(("started", None), frame["conversation"]["id"])
                elif kind == "conversation.claim.ok":
                    self._resolve(("ref", frame["conversation"]["id"]), True)
                elif kind == "joined":
                    self._resolve(("ref", frame["conversation_id"]), True)
        except Exception:
            self.run.disconnects += 1
        finally:
            self.closed = True
            for fut in self.waiters.values():
                if not fut.done():
                    fut.set_exception(RuntimeError("socket closed"))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)


@dataclass
class Pair:
    conv_id: int
    visitor: Sock
    agent: Sock
    turn: int = 0


class Run:
    def __init__(self) -> None:
        self.tracker = Tracker()
        self.owner: dict[str, Tracker] = {}  # client_msg_id -> the step's tracker that sent it
        self.pairs: list[Pair] = []
        self.agents: list[Sock] = []
        self.disconnects = 0
        self.setup_errors: Counter = Counter()


class BaselineProtocol:
    """Visitors connect with ?conv=ID; agent sockets `join` their conversations."""

    name = "baseline"
    next_conv = itertools.count(int(time.time()) % 1_000_000 * 1000 + 1)

    def __init__(self, origins: list[str]) -> None:
        self.origins = origins

    def ws_url(self, origin: str, path: str) -> str:
        return origin.replace("http://", "ws://") + path

    async def open_agent(self, run: Run, index: int) -> Sock:
        origin = self.origins[index % len(self.origins)]
        ws = await connect(self.ws_url(origin, "/ws/agent/"), max_size=2**20, open_timeout=20)
        return Sock(ws, "agent", run)

    async def open_pair(self, run: Run, index: int, agent: Sock) -> Pair:
        conv = next(self.next_conv)
        origin = self.origins[(index + 1) % len(self.origins)]
        ws = await connect(self.ws_url(origin, f"/ws/visitor/?conv={conv}"), open_timeout=20)
        visitor = Sock(ws, "visitor", run)
        fut = agent.wait_for(("ref", conv))
        agent.send({"type": "join", "conversation_id": conv})
        await asyncio.wait_for(fut, 20)
        return Pair(conv, visitor, agent)

    async def heartbeat(self, run: Run) -> None:
        return None


class ProductProtocol(BaselineProtocol):
    """The real protocol: visitor starts, an online agent claims, then both send."""

    name = "product"

    def __init__(self, origins: list[str], agent_cookies: list[str]) -> None:
        super().__init__(origins)
        self.cookies = agent_cookies

    async def open_agent(self, run: Run, index: int) -> Sock:
        origin = self.origins[index % len(self.origins)]
        ws = await connect(
            self.ws_url(origin, "/ws/agent/"),
            origin=origin,
            additional_headers={"Cookie": self.cookies[index % len(self.cookies)]},
            max_size=2**22,
            open_timeout=20,
        )
        sock = Sock(ws, "agent", run)
        sock.send({"type": "presence.set", "status": "online"})
        return sock

    async def open_visitor(self, origin: str, run: Run) -> Sock:
        ws = await connect(
            self.ws_url(origin, "/ws/visitor/"),
            origin=origin,
            user_agent_header=UA,
            open_timeout=20,
        )
        return Sock(ws, "visitor", run)

    async def open_pair(self, run: Run, index: int, agent: Sock) -> Pair:
        origin = self.origins[(index + 1) % len(self.origins)]
        visitor = await self.open_visitor(origin, run)
        start = {
            "type": "conversation.start",
            "text": "Hello, a question about courses",
            "client_msg_id": uuid.uuid4().hex,
            "ref": "start",
            "page": {"url": "https://www.example.org/courses/", "title": "Courses"},
        }
        for attempt in range(START_ATTEMPTS):
            started = visitor.wait_for(("started", None))
            refused = visitor.wait_for(("ref", "start"))
            visitor.send(start)
            done, _ = await asyncio.wait(
                {started, refused}, timeout=20, return_when="FIRST_COMPLETED"
            )
            if started in done:
                break
            if refused not in done:
                raise RuntimeError("conversation.start timed out")
            error = refused.exception()
            busy = isinstance(error, Refused) and error.code == "overloaded"
            if not busy or attempt == START_ATTEMPTS - 1:
                raise error
            # As the panel does: a busy server is asked again after the wait it named.
            run.setup_errors["start refused as overloaded, resent"] += 1
            await asyncio.sleep(random.uniform(1.0, 2.0))
        conv = started.result()
        visitor.waiters.pop(("ref", "start"), None)
        fut = agent.wait_for(("ref", conv))
        agent.send({"type": "conversation.claim", "conversation_id": conv, "ref": conv})
        await asyncio.wait_for(fut, 20)
        return Pair(conv, visitor, agent)

    async def heartbeat(self, run: Run) -> None:
        # As the console does: each repeats its presence every HEARTBEAT_SECONDS on its own
        # timer, so the consoles' heartbeats are spread over the period, not sent together.
        while True:
            agents = list(run.agents)
            for agent in agents:
                await asyncio.sleep(HEARTBEAT_SECONDS / max(1, len(agents)))
                agent.send({"type": "presence.set", "status": "online"})


async def setup(
    protocol: BaselineProtocol,
    conversations: int,
    agents: int,
    concurrency: int = 16,
    time_limit: float = 60,
) -> Run:
    """Opens the agent sockets and up to `conversations` pairs within `time_limit` seconds."""
    run = Run()
    deadline = time.monotonic() + time_limit
    run.agents = [await protocol.open_agent(run, i) for i in range(agents)]
    if isinstance(protocol, ProductProtocol):
        await asyncio.sleep(0.3)  # let presence.set land before visitors ask for an agent
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            if time.monotonic() > deadline:
                run.setup_errors["not opened: set-up time limit reached"] += 1
                return
            try:
                run.pairs.append(await protocol.open_pair(run, i, run.agents[i % agents]))
            except Exception as exc:
                run.setup_errors[str(exc)[:80]] += 1

    await asyncio.gather(*(one(i) for i in range(conversations)))
    # The sockets live for the whole measurement: out of the collector's walk, they cannot make
    # the load generator's own full collections (~100 ms with 500 pairs) show up as latency.
    gc.collect()
    gc.freeze()
    return run


async def teardown(run: Run) -> None:
    socks = [p.visitor for p in run.pairs] + run.agents
    await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)
    # What `setup` froze is garbage now; left frozen, every set-up of the run would stay in memory.
    gc.unfreeze()
    gc.collect()


async def drive(run: Run, rate: float, seconds: float, drain: float = 3.0) -> dict[str, Any]:
    """Sends `rate` msg/s in total for `seconds`, round-robin over the pairs, alternating sides.

    Returns the tracker summary of this step (a fresh tracker per step) plus timings.
    """
    run.tracker = tracker = Tracker()
    pairs = run.pairs
    if not pairs:
        raise RuntimeError("no conversations could be opened")
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pair = pairs[i % len(pairs)]
        cmid = uuid.uuid4().hex[:20]
        run.owner[cmid] = tracker
        if pair.turn % 2 == 0:
            tracker.on_send(pair.conv_id, cmid, "visitor")
            pair.visitor.send(
                {"type": "message.send", "client_msg_id": cmid, "text": TEXT, "ref": cmid}
            )
        else:
            tracker.on_send(pair.conv_id, cmid, "agent")
            pair.agent.send(
                {
                    "type": "message.send",
                    "conversation_id": pair.conv_id,
                    "client_msg_id": cmid,
                    "text": TEXT,
                    "ref": cmid,
                }
            )
        pair.turn += 1
    send_end = time.perf_counter()
    deadline = send_end + drain
    while tracker.outstanding() > 0 and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    drained_at = time.perf_counter()
    summary = tracker.summary()
    summary.update(
        {
            "rate": rate,
            "seconds": seconds,
            "send_seconds": round(send_end - start, 2),
            "achieved_rate": round(total / max(send_end - start, 1e-9), 1),
            "drain_s": round(drained_at - send_end, 2),
            "disconnects": run.disconnects,
        }
    )
    return summary
