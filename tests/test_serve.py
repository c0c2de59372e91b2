"""The tuned Daphne entry point: event loop choice and prompt socket writes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
import uvloop
from twisted.internet import main as twisted_main
from twisted.internet import tcp
from twisted.internet.protocol import Protocol

from helao_chat import serve


@pytest.fixture
def policy():
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


@pytest.mark.parametrize(
    ("environ", "name", "policy_kind", "kind"),
    [
        ({}, "uvloop", uvloop.EventLoopPolicy, uvloop.Loop),  # the default
        (
            {"EVENT_LOOP": " AsyncIO "},
            "asyncio",
            asyncio.DefaultEventLoopPolicy,
            asyncio.SelectorEventLoop,
        ),
    ],
)
def test_the_event_loop_is_uvloop_unless_asyncio_is_chosen(
    policy, environ, name, policy_kind, kind
):
    assert serve.choose_loop(environ) == name
    assert isinstance(asyncio.get_event_loop_policy(), policy_kind)
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, kind)
    finally:
        loop.close()


def test_an_unknown_loop_is_refused_with_a_clear_error(policy):
    with pytest.raises(SystemExit, match="EVENT_LOOP must be one of uvloop, asyncio"):
        serve.choose_loop({"EVENT_LOOP": "trio"})


def test_the_entry_point_takes_daphnes_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "helao_chat.serve", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--websocket-max-message-size" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "helao_chat.serve", "--no-such-flag", "x:y"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "unrecognized arguments" in bad.stderr


def test_the_products_limits_and_timeouts_apply_unless_given():
    from daphne.cli import CommandLineInterface

    parse = CommandLineInterface().parser.parse_args
    args = parse(serve.with_default_flags(["-p", "8001", "helao_chat.asgi:application"]))
    assert args.websocket_max_message_size == 256 * 1024
    assert args.websocket_connect_timeout == 10  # Daphne's own is 5
    assert (args.ping_interval, args.ping_timeout) == (30, 25)
    assert args.http_timeout is None and args.application_close_timeout == 10
    assert args.port == 8001
    # A flag given, in either spelling, is the caller's.
    given = parse(
        serve.with_default_flags(
            ["--websocket_connect_timeout", "3", "--ping-interval=5", "helao_chat.asgi:application"]
        )
    )
    assert (given.websocket_connect_timeout, given.ping_interval) == (3, 5)
    assert given.ping_timeout == 25


def test_autobahn_formats_its_connection_dump_only_when_the_line_is_logged(monkeypatch):
    import pprint

    from autobahn.websocket import protocol

    monkeypatch.setattr(protocol, "pformat", protocol.pformat)
    monkeypatch.setattr(protocol.Timings, "__str__", protocol.Timings.__str__)
    formatted = []
    plain = pprint.pformat
    monkeypatch.setattr(pprint, "pformat", lambda v: formatted.append(v) or plain(v))
    serve.quiet_connection_log()
    dump = protocol.pformat([("openHandshakeTimeout", 5, "Factory")])
    assert formatted == [], "nothing formatted while nobody logs it"
    assert "openHandshakeTimeout" in f"{dump}" and formatted
    timings = protocol.Timings()
    timings.track("onOpen")
    assert "onOpen" in str(timings)


class Reactor:
    """Records what a connection asks of the reactor instead of polling anything."""

    def __init__(self) -> None:
        self.writers: list[object] = []

    def addWriter(self, writer) -> None:
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer) -> None:
        if writer in self.writers:
            self.writers.remove(writer)

    def addReader(self, reader) -> None:
        pass

    def removeReader(self, reader) -> None:
        pass


@pytest.fixture
def pair():
    serve.prompt_writes()
    ours, theirs = socket.socketpair()
    theirs.settimeout(2)
    reactor = Reactor()
    conn = tcp.Connection(ours, Protocol(), reactor=reactor)
    conn.connected = 1
    yield conn, theirs, reactor
    ours.close()
    theirs.close()


def received(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def test_a_write_to_an_idle_socket_is_sent_at_once(pair):
    conn, theirs, reactor = pair
    conn.write(b"frame-1")
    assert received(theirs, 7) == b"frame-1"
    assert reactor.writers == [], "no turn of the loop was needed"
    assert conn.dataBuffer == b"" and not conn._tempDataBuffer


def test_what_the_kernel_does_not_take_is_queued_in_order(pair, monkeypatch):
    conn, theirs, reactor = pair
    real = conn.writeSomeData
    monkeypatch.setattr(conn, "writeSomeData", lambda data: real(bytes(data)[:3]))
    conn.write(b"abcdef")
    conn.write(b"ghi")  # data is queued: this one waits behind it, not sent first
    assert reactor.writers == [conn]
    assert received(theirs, 3) == b"abc"
    monkeypatch.setattr(conn, "writeSomeData", real)
    assert conn.doWrite() is None  # the loop found the socket writable
    assert received(theirs, 6) == b"defghi"
    assert reactor.writers == []


def test_an_error_is_left_to_twisteds_buffered_path(pair, monkeypatch):
    conn, _theirs, reactor = pair
    monkeypatch.setattr(conn, "writeSomeData", lambda data: twisted_main.CONNECTION_LOST)
    conn.write(b"lost")
    assert reactor.writers == [conn], "the loop meets the error and closes the connection"
    assert conn.doWrite() is twisted_main.CONNECTION_LOST


def test_a_closing_connection_keeps_the_buffered_path(pair):
    conn, theirs, reactor = pair
    conn.disconnecting = True
    conn.write(b"late")
    assert reactor.writers == [conn]
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(10)


def test_tls_writes_go_through_the_tls_layer(pair):
    conn, theirs, _reactor = pair
    layer = []
    conn.protocol = type("TLSLayer", (), {"write": lambda self, data: layer.append(data)})()
    conn.TLS = True
    conn.write(b"secret")
    assert layer == [b"secret"], "encrypted by the TLS layer, never sent in the clear"
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(10)


def test_installing_twice_wraps_once():
    serve.prompt_writes()
    first = tcp.Connection.write
    serve.prompt_writes()
    assert tcp.Connection.write is first


def test_the_listening_sockets_take_the_backlog_unless_they_name_one():
    endpoints = [
        "tcp:port=8000:interface=127.0.0.1",
        "unix:/run/helao.sock",
        "fd:fileno=3",  # inherited and already listening
        "tcp:port=8001:backlog=64",
    ]
    assert serve.with_backlog(endpoints, 2048) == [
        "tcp:port=8000:interface=127.0.0.1:backlog=2048",
        "unix:/run/helao.sock:backlog=2048",
        "fd:fileno=3",
        "tcp:port=8001:backlog=64",
    ]


@pytest.mark.parametrize(("environ", "backlog"), [({}, 2048), ({"LISTEN_BACKLOG": " 512 "}, 512)])
def test_listen_backlog_defaults_to_2048(environ, backlog):
    assert serve.listen_backlog(environ) == backlog


@pytest.mark.parametrize("value", ["0", "-5", "lots", "70000"])
def test_a_wrong_listen_backlog_is_refused_with_a_clear_error(value):
    with pytest.raises(SystemExit, match="LISTEN_BACKLOG must be a number from 1 to 65535"):
        serve.listen_backlog({"LISTEN_BACKLOG": value})


def test_autobahn_names_its_functions_and_values_only_when_a_frame_line_is_logged(monkeypatch):
    import autobahn.util
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    for module in (protocol, twisted_websocket):
        for name in ("hltype", "hlval"):
            monkeypatch.setattr(module, name, getattr(autobahn.util, name))
    named = []
    plain = autobahn.util._qn
    monkeypatch.setattr(autobahn.util, "_qn", lambda obj: named.append(obj) or plain(obj))
    serve.quiet_frame_log()
    serve.quiet_frame_log()  # once is enough; twice changes nothing
    func = protocol.hltype(
        test_autobahn_names_its_functions_and_values_only_when_a_frame_line_is_logged
    )
    value = twisted_websocket.hlval(1234, color="green")
    assert named == [], "nothing worked out while nobody logs it"
    assert f"{func}".endswith(
        "test_autobahn_names_its_functions_and_values_only_when_a_frame_line_is_logged>"
    )
    assert named and str(value) == autobahn.util.hlval(1234, color="green")
    assert protocol.hltype.deferred is autobahn.util.hltype


@pytest.mark.parametrize("size", [0, 1, 3, 4, 15, 125, 126, 4096, 70000])
def test_frames_are_masked_as_autobahns_own_masker_does_in_any_chunks(size):
    import os
    import random

    from autobahn.websocket.xormasker import create_xor_masker

    mask, data = os.urandom(4), os.urandom(size)
    theirs, ours = create_xor_masker(mask, size), serve.XorMasker(mask, size)
    expected = theirs.process(data)
    got, at = b"", 0
    while at < size:  # a frame's payload arrives in pieces of any length
        step = random.randint(1, 9) if size < 200 else random.randint(1, 5000)
        got += ours.process(data[at : at + step])
        at += step
    assert got == expected and ours.pointer() == size
    ours.reset()
    assert ours.process(expected) == data  # masking twice gives the data back


def test_the_served_process_masks_with_its_own_masker(monkeypatch):
    from autobahn.websocket import protocol

    monkeypatch.setattr(protocol, "create_xor_masker", protocol.create_xor_masker)
    serve.plain_masks()
    assert protocol.create_xor_masker is serve.XorMasker
