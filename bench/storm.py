"""The reconnect storm: a rolling restart of the one process every socket is on.

N visitors with active chats (each started and claimed through the real protocol) and C console
sockets are connected to one Daphne process. Numbered messages flow both ways at a steady rate;
then the process gets SIGTERM (it tells every socket to reconnect: a `restart` frame with a
jittered `retry_after_ms`, close 4012) and a new process is started on the same port, as a
process manager does. Every client reconnects as the browsers do (`bench/backoff.py`, read from
`static/shared/socket.js`): after the restart frame's delay, then with backoff and full jitter
while the port refuses; it says `hello` with its last message id (the visitor with its token),
follows the pages of its catch-up, and only then resends what was not acknowledged, as the panel
and the console do.

Figures: the time from SIGTERM until every client has caught up (`resume_s`); numbered messages
never received by the other side (`lost`), and messages received under more than one message id
(`duplicates`: one stored twice); the processes' peak RSS (sampled every 0.2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection

from . import backoff, loadgen
from .common import Server

TEXT = "Viesti numero {n}: tilauksen tila?"
PAGE = {"url": "https://www.example.org/orders/", "title": "Orders"}


@dataclass
class Ledger:
    """Numbered messages: who sent them and under which message ids the other side got them."""

    sent: dict[str, tuple[int, str]] = field(default_factory=dict)  # cmid -> (conv, side)
    received: dict[str, set[int]] = field(default_factory=dict)  # cmid -> message ids
    receipts: int = 0
    errors: Counter = field(default_factory=Counter)
    close_codes: Counter = field(default_factory=Counter)
    restart_frames: int = 0
    refused_connects: int = 0

    def got(self, side: str, message: dict[str, Any]) -> None:
        cmid = message.get("client_msg_id") or ""
        who = self.sent.get(cmid)
        if who is None or message.get("sender") == side or who[1] == side:
            return
        self.receipts += 1
        self.received.setdefault(cmid, set()).add(int(message["id"]))

    def figures(self) -> dict[str, Any]:
        lost = [c for c in self.sent if c not in self.received]
        dups = sum(len(ids) - 1 for ids in self.received.values() if len(ids) > 1)
        return {
            "sent": len(self.sent),
            "delivered": len(self.sent) - len(lost),
            "lost": len(lost),
            "duplicates": dups,
            # The same message again (the resume's few seconds of overlap): dropped by id.
            "received_again_same_id": self.receipts - sum(len(x) for x in self.received.values()),
            "lost_sample": [[c, *self.sent[c]] for c in lost[:10]],
        }


class Client:
    """One browser tab's socket: the panel (`widget`) or the console, reconnecting as they do."""

    def __init__(
        self, role: str, origin: str, ledger: Ledger, cookie: str | None = None, conv: int = 0
    ) -> None:
        self.role = role
        self.side = "visitor" if role == "widget" else "agent"
        self.origin = origin
        self.ledger = ledger
        self.cookie = cookie
        self.conv = conv
        self.token: str | None = None
        self.policy = backoff.Reconnect(role, random.random)
        self.ws: ClientConnection | None = None
        self.last_seen = 0
        self.outbox: dict[str, dict[str, Any]] = {}  # cmid -> frame, until acknowledged
        self.inflight: set[str] = set()
        self.live = False  # welcome received and its pages followed
        self.loading: set[str] = set()
        self.caught_up_at: float | None = None
        #: Since the restart: when the socket first opened (handshake done) and was welcomed.
        self.opened_at: float | None = None
        self.welcomed_at: float | None = None
        self.connected = asyncio.Event()
        self.stopped = False
        self.waiters: dict[Any, asyncio.Future] = {}
        self.task: asyncio.Task | None = None

    # --- the socket -----------------------------------------------------------------------

    async def open(self) -> None:
        path = "/ws/visitor/" if self.role == "widget" else "/ws/agent/"
        headers = {"Cookie": self.cookie} if self.cookie else None
        self.ws = await loadgen.connect(
            self.origin.replace("http://", "ws://") + path,
            origin=self.origin,
            additional_headers=headers,
            user_agent_header=loadgen.UA,
            max_size=2**22,
            open_timeout=20,
        )
        self.live = False
        self.inflight.clear()
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.writer = asyncio.create_task(self._writer(self.ws, self.queue))
        self.send(self.hello())
        self.connected.set()
        if self.opened_at is None:
            self.opened_at = time.perf_counter()

    def hello(self) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "hello"}
        if self.role == "widget":
            frame.update(lang="fi", screen="1920x1080")
            if self.token:
                # The panel names the page it is on when its socket comes back.
                frame.update(token=self.token, last_seen_id=self.last_seen or None, page=PAGE)
        elif self.last_seen:
            frame["last_seen_id"] = self.last_seen
        return frame

    def send(self, frame: dict[str, Any]) -> bool:
        if self.ws is None:
            return False
        self.queue.put_nowait(json.dumps(frame, separators=(",", ":")))
        return True

    async def _writer(self, ws: ClientConnection, queue: asyncio.Queue[str]) -> None:
        """One writer per socket: frames go out in the order they were sent."""
        with contextlib.suppress(Exception):
            while True:
                await ws.send(await queue.get())

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        """Reads frames until the socket closes, then reconnects after the policy's delay."""
        while not self.stopped:
            if self.ws is None:
                try:
                    await self.open()
                except Exception:
                    self.ledger.refused_connects += 1
                    await self._closed(1006)  # a browser reports a refused connect so
                    continue
            ws = self.ws
            assert ws is not None
            with contextlib.suppress(Exception):
                async for raw in ws:
                    self.receive(json.loads(raw))
            self.writer.cancel()
            code = ws.close_code if ws.close_code is not None else 1006
            if self.stopped:
                return
            await self._closed(code)

    async def _closed(self, code: int) -> None:
        self.ws = None
        self.live = False
        self.connected.clear()
        self.ledger.close_codes[code] += 1
        for fut in self.waiters.values():
            if not fut.done():
                fut.set_exception(RuntimeError(f"socket closed ({code})"))
        self.waiters.clear()
        delay = self.policy.on_close(code)
        if delay is None:
            self.stopped = True
            return
        await asyncio.sleep(delay / 1000)

    async def stop(self) -> None:
        self.stopped = True
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.ws is not None:
            self.writer.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)

    # --- frames -----------------------------------------------------------------------------

    def wait_for(self, key: Any) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[key] = fut
        return fut

    def _resolve(self, key: Any, value: Any, error: bool = False) -> None:
        fut = self.waiters.pop(key, None)
        if fut is not None and not fut.done():
            if error:
                fut.set_exception(loadgen.Refused(value))
            else:
                fut.set_result(value)

    def _messages(self, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            self.last_seen = max(self.last_seen, int(m.get("id") or 0))
            self.ledger.got(self.side, m)
            self._acked(m)

    def _acked(self, m: dict[str, Any]) -> None:
        cmid = m.get("client_msg_id") or ""
        if m.get("sender") == self.side and cmid in self.outbox:
            del self.outbox[cmid]
            self.inflight.discard(cmid)

    def _follow(self, frame: dict[str, Any], lists: list[str]) -> None:
        nxt = frame.get("next") or {}
        for name in lists:
            if name in nxt:
                self.send(nxt[name])
            else:
                self.loading.discard(name)
        if not self.loading and not self.live:
            self.live = True
            self.caught_up_at = time.perf_counter()
            self.flush()

    def receive(self, frame: dict[str, Any]) -> None:
        self.policy.on_frame(frame)
        kind = frame.get("type")
        if kind == "welcome":
            if self.welcomed_at is None:
                self.welcomed_at = time.perf_counter()
            if self.role == "console":  # as the console does on every welcome
                self.send({"type": "presence.set", "status": "online"})
            self._messages(frame.get("messages") or [])
            self.loading = set((frame.get("next") or {}).keys())
            self._resolve("welcome", frame)
            self._follow(frame, list(self.loading))
        elif kind == "sync":
            self._messages(frame.get("messages") or [])
            self._follow(frame, ["messages"])
        elif kind == "list.page":
            self._follow(frame, [frame.get("list", "")])
        elif kind in ("message.new", "message.ack"):
            self._messages([frame["message"]])
        elif kind in ("conversation.claim.ok",):
            self._messages(frame.get("messages") or [])
            self._resolve(("claim", frame["conversation"]["id"]), True)
        elif kind == "conversation.started":
            self.token = frame["token"]
            self.conv = int(frame["conversation"]["id"])
            self._resolve("started", self.conv)
        elif kind == "restart":
            self.ledger.restart_frames += 1
        elif kind == "error":
            ref = frame.get("ref")
            code = frame.get("code", "?")
            if ref in self.waiters or ("claim", ref) in self.waiters:
                self._resolve(ref, code, error=True)
                self._resolve(("claim", ref), code, error=True)
            elif isinstance(ref, str) and ref in self.outbox:
                self.inflight.discard(ref)
                if code in ("overloaded", "not_stored", "server_error", "rate_limited"):
                    wait = (frame.get("retry_after_ms") or 3000) / 1000
                    asyncio.get_running_loop().call_later(wait + random.random() * wait, self.flush)
                    self.ledger.errors[f"{code} (resent)"] += 1
                else:
                    del self.outbox[ref]
                    self.ledger.errors[code] += 1

    def flush(self) -> None:
        """Sends what is not yet acknowledged, once per socket, after the catch-up."""
        if not self.live or self.ws is None:
            return
        for cmid, frame in list(self.outbox.items()):
            if cmid not in self.inflight and self.send(frame):
                self.inflight.add(cmid)

    def write(self, n: int, conv: int) -> None:
        """A numbered message typed now: sent at once if live, else after the next catch-up."""
        cmid = f"storm-{n:07d}-{uuid.uuid4().hex[:6]}"
        frame: dict[str, Any] = {
            "type": "message.send",
            "client_msg_id": cmid,
            "ref": cmid,
            "text": TEXT.format(n=n),
        }
        if self.role == "console":
            frame["conversation_id"] = conv
        self.ledger.sent[cmid] = (conv, self.side)
        self.outbox[cmid] = frame
        self.flush()


# --- set-up ---------------------------------------------------------------------------------


async def _start_chat(visitor: Client, console: Client, log_errors: Counter) -> bool:
    """hello → conversation.start (resent after `overloaded`, as the panel does) → claim."""
    for _ in range(8):
        await visitor.connected.wait()
        welcome = visitor.wait_for("welcome")
        if visitor.live:
            welcome.set_result(None)
        await asyncio.wait_for(welcome, 30)
        cmid = uuid.uuid4().hex
        started = visitor.wait_for("started")
        refused = visitor.wait_for(cmid)
        visitor.send(
            {
                "type": "conversation.start",
                "text": "Hei, kysymys tilauksesta",
                "client_msg_id": cmid,
                "ref": cmid,
                "lang": "fi",
                "screen": "1920x1080",  # as the panel's start and hello both say
                "page": PAGE,
            }
        )
        done, _ = await asyncio.wait({started, refused}, timeout=30, return_when="FIRST_COMPLETED")
        visitor.waiters.pop(cmid, None)
        if started in done:
            break
        code = str(refused.exception()) if refused in done else "timed out"
        log_errors[f"start: {code}"] += 1
        if "overloaded" not in code:
            return False
        await asyncio.sleep(1 + random.random() * 2)
    else:
        return False
    await console.connected.wait()
    claimed = console.wait_for(("claim", visitor.conv))
    console.send(
        {"type": "conversation.claim", "conversation_id": visitor.conv, "ref": visitor.conv}
    )
    await asyncio.wait_for(claimed, 30)
    return True


@dataclass
class Chat:
    visitor: Client
    console: Client
    turn: int = 0


async def setup(
    origin: str, cookies: list[str], visitors: int, consoles: int, time_limit: float, log
) -> tuple[list[Client], list[Chat], Ledger, dict[str, Any]]:
    ledger = Ledger()
    errors: Counter = Counter()
    console_clients = [
        Client("console", origin, ledger, cookie=cookies[i % len(cookies)]) for i in range(consoles)
    ]
    for c in console_clients:
        c.start()
    await asyncio.wait_for(
        asyncio.gather(*(c.connected.wait() for c in console_clients)), time_limit
    )
    # Each console says it is online on its welcome; visitors ask for an agent after that.
    until = time.monotonic() + time_limit
    while not all(c.live for c in console_clients) and time.monotonic() < until:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    heartbeat = asyncio.create_task(_heartbeat(console_clients))
    chats: list[Chat] = []
    sem = asyncio.Semaphore(32)
    deadline = time.monotonic() + time_limit
    t0 = time.perf_counter()

    async def one(i: int) -> None:
        async with sem:
            if time.monotonic() > deadline:
                errors["not opened: set-up time limit"] += 1
                return
            visitor = Client("widget", origin, ledger)
            console = console_clients[i % consoles]
            visitor.start()
            try:
                if await _start_chat(visitor, console, errors):
                    chats.append(Chat(visitor, console))
                    return
            except Exception as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
            await visitor.stop()

    await asyncio.gather(*(one(i) for i in range(visitors)))
    heartbeat.cancel()
    info = {
        "visitors": len(chats),
        "consoles": consoles,
        "seconds": round(time.perf_counter() - t0, 1),
        "errors": dict(errors),
    }
    log(f"storm: {len(chats)} chats and {consoles} consoles open in {info['seconds']} s")
    return console_clients, chats, ledger, info


async def _heartbeat(consoles: list[Client]) -> None:
    """As the console does: presence every 10 s, each on its own timer."""
    while True:
        for c in consoles:
            await asyncio.sleep(loadgen.HEARTBEAT_SECONDS / max(1, len(consoles)))
            if c.live:
                c.send({"type": "presence.set", "status": "online"})


# --- the storm ------------------------------------------------------------------------------


class RssSampler:
    def __init__(self) -> None:
        self.pids: list[int] = []
        self.peak: dict[int, int] = {}

    def add(self, pid: int) -> None:
        self.pids.append(pid)

    async def run(self) -> None:
        while True:
            for pid in self.pids:
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(pid).memory_info().rss
                    self.peak[pid] = max(self.peak.get(pid, 0), rss)
            await asyncio.sleep(0.2)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def storm(
    server: Server,
    make_server,
    cookies: list[str],
    *,
    visitors: int,
    consoles: int,
    rate: float,
    setup_limit: float,
    limit: float,
    log,
    drain: float = 20,
) -> tuple[dict[str, Any], Server | None]:
    """Returns the figures and the new server (the caller stops it)."""
    console_clients, chats, ledger, info = await setup(
        server.origin, cookies, visitors, consoles, setup_limit, log
    )
    clients = [*console_clients, *(c.visitor for c in chats)]
    result: dict[str, Any] = {"setup": info, "rate": rate}
    heartbeat = asyncio.create_task(_heartbeat(console_clients))
    sampler = RssSampler()
    sampler.add(server.pid)
    sampling = asyncio.create_task(sampler.run())
    new: Server | None = None
    counter = 0
    stop_sending = asyncio.Event()

    async def sender() -> None:
        nonlocal counter
        if not chats:
            return
        t0 = time.perf_counter()
        while not stop_sending.is_set():
            delay = t0 + counter / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chat = chats[counter % len(chats)]
            writer = chat.visitor if chat.turn % 2 == 0 else chat.console
            writer.write(counter, chat.visitor.conv)
            chat.turn += 1
            counter += 1

    try:
        await asyncio.sleep(1)
        result["rss_mb_before"] = round(server.rss_bytes() / 2**20, 1)
        sending = asyncio.create_task(sender())
        await asyncio.sleep(2)  # messages in flight when the signal comes
        for c in clients:
            c.caught_up_at = c.opened_at = c.welcomed_at = None
        me = psutil.Process()
        me_cpu0 = sum(me.cpu_times()[:2])
        t_term = time.perf_counter()
        server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        # As a process manager does: the new process as soon as the old one has let go of
        # the port (it stops listening first, then drains its sockets).
        for _ in range(100):
            if not _listening(server.port):
                break
            await asyncio.sleep(0.05)
        new = make_server(server.port)
        await asyncio.to_thread(new.start)
        sampler.add(new.pid)
        new_cpu0 = _cpu_seconds(new.pid)
        result["new_process_listening_s"] = round(time.perf_counter() - t_term, 2)
        log(f"storm: new process listening {result['new_process_listening_s']} s after SIGTERM")
        deadline = t_term + limit
        while time.perf_counter() < deadline:
            if all(c.caught_up_at is not None for c in clients):
                break
            await asyncio.sleep(0.1)
        # The new process's CPU from listening until every client had caught up (or the limit):
        # what the resumes cost it, whatever the clients' backoff made of the wall time.
        result["new_process_cpu_s"] = round(_cpu_seconds(new.pid) - new_cpu0, 2)
        resumed = [c.caught_up_at - t_term for c in clients if c.caught_up_at is not None]
        not_resumed = len(clients) - len(resumed)
        result["resume_s"] = round(max(resumed), 2) if resumed and not not_resumed else None
        result["resume_p50_s"] = round(sorted(resumed)[len(resumed) // 2], 2) if resumed else None
        # Where the time went: the handshakes, then the welcomes (the catch-up's pages follow).
        for name in ("opened", "welcomed"):
            result[f"{name}_s_quartiles"] = _quartiles(
                [at - t_term for c in clients if (at := getattr(c, f"{name}_at")) is not None]
            )
        result["not_resumed"] = not_resumed
        # The clients are one process here: if it was short of CPU, it slowed the resume too.
        result["loadgen_cpu_pct"] = round(
            (sum(me.cpu_times()[:2]) - me_cpu0) / (time.perf_counter() - t_term) * 100
        )
        # What the clients that had not caught up were doing: connected or backing off, and
        # which of the catch-up's lists they were still waiting for.
        result["not_resumed_sample"] = [
            {
                "role": c.role,
                "connected": c.ws is not None,
                "waiting_for": sorted(c.loading),
                "closes_since_welcome": c.policy.attempt,
                "outbox": len(c.outbox),
            }
            for c in clients
            if c.caught_up_at is None
        ][:10]
        await asyncio.sleep(1)  # a little more traffic on the new process
        stop_sending.set()
        await sending
        # Everything typed must arrive: outboxes empty and every message received.
        drain_end = time.perf_counter() + drain
        while time.perf_counter() < drain_end:
            if all(not c.outbox for c in clients) and len(ledger.received) == len(ledger.sent):
                break
            await asyncio.sleep(0.2)
        old_exit = await asyncio.to_thread(_wait_exit, server, 15)
        result["drain_s"] = drain
        result.update(ledger.figures())
        result.update(
            {
                "visitors": len(chats),
                "consoles": len(console_clients),
                "unsent_at_end": sum(len(c.outbox) for c in clients),
                "restart_frames": ledger.restart_frames,
                "close_codes": {str(k): v for k, v in ledger.close_codes.items()},
                "refused_connects": ledger.refused_connects,
                "errors": dict(ledger.errors),
                "old_process_exit_code": old_exit,
                "peak_rss_mb_old": round(sampler.peak.get(server.pid, 0) / 2**20, 1),
                "peak_rss_mb_new": round(sampler.peak.get(new.pid, 0) / 2**20, 1),
                "sent_ids": list(ledger.sent),
            }
        )
        result["peak_rss_mb"] = max(result["peak_rss_mb_old"], result["peak_rss_mb_new"])
        log(
            f"storm: resumed in {result['resume_s']} s (p50 {result['resume_p50_s']} s, "
            f"{not_resumed} not), sent {result['sent']}, lost {result['lost']}, "
            f"duplicates {result['duplicates']}, peak RSS {result['peak_rss_mb']} MB"
        )
    except BaseException:
        if new is not None:  # the caller only learns of the new process on success
            new.stop()
        raise
    finally:
        stop_sending.set()
        heartbeat.cancel()
        sampling.cancel()
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
    return result, new


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _quartiles(values: list[float]) -> list[float] | None:
    """The 25th, 50th and 75th percentiles and the largest of `values`."""
    ordered = sorted(values)
    if not ordered:
        return None
    return [
        round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)
        for q in (0.25, 0.5, 0.75, 1)
    ]


def _wait_exit(server: Server, timeout: float) -> int | None:
    """The old process's exit code once it has drained (it is killed after `timeout`)."""
    assert server.proc is not None
    try:
        return server.proc.wait(timeout=timeout)
    except Exception:
        server.stop(signal.SIGKILL, 5)
        return None


def stored_twice(db_name: str, cmids: list[str]) -> int | None:
    """Rows beyond the first stored for any of `cmids` (the database's side of duplicates)."""
    if not cmids:
        return None
    import psycopg

    from .common import PG

    with psycopg.connect(f"{PG}/{db_name}") as conn:
        row = conn.execute(
            "SELECT count(*) - count(DISTINCT client_msg_id) FROM chat_message "
            "WHERE client_msg_id = ANY(%s)",
            (cmids,),
        ).fetchone()
    return int(row[0]) if row else None
