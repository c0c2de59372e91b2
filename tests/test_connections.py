"""Daphne's connection bookkeeping by event (`helao_chat.connections`): the timeout wheel, the
reaping of applications, and both checked against the real served process."""

from __future__ import annotations

import asyncio
import base64
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from helao_chat import connections
from helao_chat.connections import EventBookkeeping, TimeoutWheel

ROOT = Path(__file__).resolve().parent.parent


# The wheel.


def test_the_wheel_hands_over_what_is_due_oldest_first_and_nothing_early():
    wheel = TimeoutWheel(tick=1.0)
    wheel.add("b", 105.2)
    wheel.add("a", 103.0)
    wheel.add("c", 130.0)
    assert wheel.due(102.9) == []
    assert wheel.due(103.0) == ["a"]
    assert wheel.due(105.5) == []  # due at 105.2, filed for the tick after it
    assert wheel.due(106.0) == ["b"]
    assert len(wheel) == 1
    assert wheel.due(1000.0) == ["c"]
    assert len(wheel) == 0 and wheel.due(2000.0) == []


def test_a_filed_item_is_moved_or_taken_out():
    wheel = TimeoutWheel(tick=1.0)
    wheel.add("a", 10.0)
    wheel.add("a", 40.0)  # a frame arrived: due later
    assert wheel.due(20.0) == []
    assert wheel.due(40.0) == ["a"]
    wheel.add("b", 50.0)
    wheel.discard("b")  # its connection closed
    wheel.discard("b")
    assert wheel.due(60.0) == [] and len(wheel) == 0


# The server's books, with a clock and a reactor of the test's own.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


class Reactor:
    def __init__(self) -> None:
        self.later: list[tuple[float, object]] = []

    def callLater(self, delay, func):
        self.later.append((delay, func))


class Socket(WebSocketProtocol):
    """Daphne's websocket protocol with its timeouts counted instead of acted on: silent for the
    ping interval, it is pinged, as Daphne's `check_timeouts` does."""

    def __init__(self, server: Server, clock: Clock) -> None:
        self.server, self.clock = server, clock
        self.client_addr, self.path = None, "/ws/"
        self.state = self.STATE_OPEN
        self.socket_opened = self.last_ping = clock.now
        self.checks: list[float] = []
        self.pings: list[float] = []

    def check_timeouts(self) -> None:
        self.checks.append(self.clock.now)
        if self.clock.now - self.last_ping > self.server.ping_interval:
            self.pings.append(self.clock.now)
            self.last_ping = self.clock.now

    def handle_exception(self, exception) -> None:
        self.crashed = exception


class Books(EventBookkeeping, Server):
    pass


@pytest.fixture
def books(monkeypatch):
    clock = Clock()
    reactor = Reactor()
    monkeypatch.setattr(connections.time, "time", clock.time)
    monkeypatch.setattr("twisted.internet.reactor.callLater", reactor.callLater)
    server = Books(
        application=None,
        endpoints=["tcp:port=0:interface=127.0.0.1"],  # never listened on
        ping_interval=30,
        application_close_timeout=10,
    )
    server.connections = {}  # as Daphne's `run` starts it
    server.clock, server.reactor = clock, reactor
    return server


def run_for(server, seconds: int) -> None:
    """Both checkers once a second, as the reactor would call them."""
    for _ in range(seconds):
        server.clock.now += 1
        server.timeout_checker()
        server.application_checker()


def test_an_idle_socket_is_looked_at_when_its_ping_can_be_due_not_every_tick(books):
    quiet, chatty = Socket(books, books.clock), Socket(books, books.clock)
    for sock in (quiet, chatty):
        books.protocol_connected(sock)
    for _ in range(7):  # a frame every 10 s on one of them (Daphne's onMessage)
        run_for(books, 10)
        chatty.last_ping = books.clock.now
    # 70 s: the quiet socket pinged once silent for over 30 s, and again 31 s later; the chatty
    # one never; each looked at a handful of times, where Daphne looked every 2 s (35 times).
    assert [p - 1000 for p in quiet.pings] == [31, 62]
    assert chatty.pings == []
    assert len(quiet.checks) == 5 and len(chatty.checks) == 4
    later = books.reactor.later[-2:]
    assert later == [(1.0, books.timeout_checker), (1, books.application_checker)]


def test_a_socket_past_its_maximum_age_is_looked_at_then(books):
    books.websocket_timeout = 45
    sock = Socket(books, books.clock)
    books.protocol_connected(sock)
    run_for(books, 2)
    sock.last_ping = books.clock.now
    assert books.next_check(sock, books.clock.now) == sock.socket_opened + 32  # the ping first
    sock.last_ping = books.clock.now + 20
    assert books.next_check(sock, books.clock.now) == sock.socket_opened + 45  # then its age


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def with_application(books, loop) -> tuple[Socket, asyncio.Future]:
    """A connected socket and its application's future, as `create_application` leaves them."""
    sock = Socket(books, books.clock)
    books.protocol_connected(sock)
    app = loop.create_future()
    books.connections[sock]["application_instance"] = app
    books.application_started(sock, app)
    return sock, app


def test_a_finished_application_is_reaped_and_a_closed_socket_forgotten(books, loop):
    sock, app = with_application(books, loop)
    run_for(books, 3)
    assert books.connections[sock]["application_instance"] is app
    app.set_result(None)
    loop.run_until_complete(asyncio.sleep(0))  # the done callback
    run_for(books, 1)
    assert "application_instance" not in books.connections[sock]
    books.protocol_disconnected(sock)
    run_for(books, 1)
    assert sock not in books.connections and len(books.wheel) == 0
    assert books.attention == set()


def test_a_closed_sockets_application_that_does_not_end_is_cancelled_after_the_timeout(
    books, loop, caplog
):
    sock, app = with_application(books, loop)
    books.protocol_disconnected(sock)
    run_for(books, 10)
    assert not app.cancelled() and sock in books.connections
    run_for(books, 1)
    assert app.cancelled()
    assert "took too long to shut down and was killed" in caplog.text
    loop.run_until_complete(asyncio.sleep(0))
    run_for(books, 1)
    assert sock not in books.connections and books.attention == set()


def test_an_application_that_raised_is_logged_and_its_open_socket_told(books, loop, caplog):
    sock, app = with_application(books, loop)
    app.set_exception(RuntimeError("boom"))
    loop.run_until_complete(asyncio.sleep(0))
    run_for(books, 1)
    assert isinstance(sock.crashed, RuntimeError)
    assert "Exception inside application: boom" in caplog.text
    assert sock in books.connections  # until its socket closes


# The served process.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("served") / "daphne.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helao_chat.serve",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--ping-interval",
                "1",
                "--ping-timeout",
                "30",
                "--application-close-timeout",
                "1",
                "tests.served_app:application",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.2)
    yield port, log
    process.terminate()
    process.wait(10)


class Raw:
    """A websocket client that shows every frame the server sends, pings included."""

    def __init__(self, port: int, path: str = "/ws/") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buffer = b""

    def send_text(self, text: str) -> None:
        data = text.encode()
        assert len(data) < 126
        self.sock.sendall(bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data)  # zero mask

    def frames(self, seconds: float) -> list[int]:
        """The opcodes of the frames that arrive within `seconds` (8: close, 9: ping)."""
        opcodes: list[int] = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([self.sock], [], [], left)
            if not readable:
                break
            try:
                chunk = self.sock.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                opcodes.append(-1)  # closed
                break
            self.buffer += chunk
            while len(self.buffer) >= 2 and len(self.buffer) >= 2 + (self.buffer[1] & 0x7F):
                size = self.buffer[1] & 0x7F
                opcodes.append(self.buffer[0] & 0x0F)
                self.buffer = self.buffer[2 + size :]
        return opcodes

    def close(self) -> None:
        self.sock.close()


def test_the_served_process_pings_a_silent_socket_and_not_a_talking_one(served):
    port, _ = served
    quiet, talking = Raw(port), Raw(port)
    try:
        for _ in range(10):  # 3 s with a frame every 0.3 s
            talking.send_text("hi")
            assert 9 not in talking.frames(0.3)
        assert 9 in quiet.frames(0.1) + quiet.frames(3)
    finally:
        quiet.close()
        talking.close()


def test_the_served_process_reports_a_crash_and_kills_an_application_that_outlives_its_socket(
    served,
):
    port, log = served
    crashing = Raw(port)
    crashing.send_text("boom")
    assert {8, -1} & set(crashing.frames(5))  # closed by the server
    crashing.close()
    stubborn = Raw(port, "/stubborn/")
    stubborn.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = log.read_text()
        if "took too long to shut down and was killed" in text:
            break
        time.sleep(0.2)
    assert "Exception inside application: boom" in text
    assert "took too long to shut down and was killed" in text
