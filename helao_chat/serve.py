"""`python -m helao_chat.serve [Daphne's arguments]`: Daphne, tuned for many small frames.

Daphne with two changes that cut the server's CPU per chat message by about a quarter (see
docs/benchmarks.md), both below the application and neither changing what goes over the wire:

- The event loop is uvloop's (libuv, in C) instead of asyncio's pure-Python selector loop:
  every message turns the loop a dozen times (a frame in, the database, Redis, frames out).
  `EVENT_LOOP=asyncio` keeps the standard loop.
- Twisted queues every write until the loop's next turn, registering the socket for
  writability and unregistering it once written: per websocket frame two extra system calls
  and one extra turn. A frame written to an idle socket is now sent at once; whatever the
  kernel does not take, and anything written while data is still queued, keeps Twisted's own
  buffered path, so order, back-pressure and error handling are Twisted's.

The listening socket queues up to LISTEN_BACKLOG connections (default 2048) before Daphne
accepts them, where Twisted's default is 50. When every socket of a restarted process comes
back at once, a full queue drops the new connections' SYNs, and each client then waits for
TCP's retransmission (1, 3, 7, 15 s ...) however idle the process is.

A third, smaller: Autobahn formatted its whole configuration with `pprint` on every new
websocket, for a debug line that is not logged (`quiet_connection_log`): about 2 % of the CPU
of a new chat, and of every reconnect in a storm. It is formatted only if the line is written.

Daphne's flags that the product depends on get the product's values unless given
(`DEFAULT_FLAGS`): every way of starting it (make run, the image, compose, the benchmark) serves
with the same limits and timeouts.

Plain `daphne ... helao_chat.asgi:application` still serves the same application, untuned.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

LOOPS = ("uvloop", "asyncio")

#: Daphne's flags as the product serves: frames up to 256 KiB; a websocket may stay open a
#: day; its handshake must be accepted within 10 s (a restarted process under a reconnect storm
#: needs more than Daphne's 5); a socket silent for 30 s is pinged and dropped unless it answers
#: within 25 s, so a dead laptop is noticed within a minute. The browsers send a `ping` frame
#: every 25 s, and any frame resets Daphne's count: a live page is never pinged by the server;
#: a closed socket's consumer has 10 s to finish what it had taken.
DEFAULT_FLAGS: dict[str, str] = {
    "--websocket-max-message-size": "262144",
    "--websocket_timeout": "86400",
    "--websocket_connect_timeout": "10",
    "--ping-interval": "30",
    "--ping-timeout": "25",
    "--application-close-timeout": "10",
}


#: LISTEN_BACKLOG's default: as uvicorn's and gunicorn's. The kernel caps it at
#: net.core.somaxconn (4096 on current Linux).
BACKLOG_DEFAULT = 2048
#: Endpoint kinds of Twisted's that take a `backlog`.
_BACKLOG_KINDS = ("tcp", "tcp6", "ssl", "unix")
_HAS_BACKLOG = re.compile(r"(?<!\\):backlog=")


def listen_backlog(environ: Mapping[str, str] = os.environ) -> int:
    """LISTEN_BACKLOG: how many connections the kernel queues before Daphne accepts them."""
    raw = environ.get("LISTEN_BACKLOG", "").strip() or str(BACKLOG_DEFAULT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SystemExit(f"LISTEN_BACKLOG must be a number from 1 to 65535, not {raw!r}")
    return int(raw)


def with_backlog(endpoints: list[str], backlog: int) -> list[str]:
    """Twisted endpoint descriptions (Daphne's from -b/-p/-u, and -e's) with `backlog` on each
    listening kind that takes one and names none; an inherited socket (`fd:`) is left as it is."""
    return [
        f"{e}:backlog={backlog}"
        if e.split(":", 1)[0] in _BACKLOG_KINDS and not _HAS_BACKLOG.search(e)
        else e
        for e in endpoints
    ]


def with_default_flags(argv: list[str]) -> list[str]:
    """`argv` with each of DEFAULT_FLAGS it does not give (as `--flag value` or `--flag=value`)
    put in front."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    defaults = [
        part for flag, value in DEFAULT_FLAGS.items() if flag not in given for part in (flag, value)
    ]
    return [*defaults, *argv]


def choose_loop(environ: Mapping[str, str] = os.environ) -> str:
    """Installs the event loop policy EVENT_LOOP names (default uvloop); returns its name."""
    name = environ.get("EVENT_LOOP", "uvloop").strip().lower() or "uvloop"
    if name not in LOOPS:
        raise SystemExit(f"EVENT_LOOP must be one of {', '.join(LOOPS)}, not {name!r}")
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)
    return name


def prompt_writes() -> None:
    """Makes Twisted's TCP (and Unix socket) connections send a write at once when they can."""
    from twisted.internet import tcp

    if getattr(tcp.Connection.write, "prompt", False):
        return
    buffered_write = tcp.Connection.write

    def write(self, data: bytes) -> None:
        if (
            data
            and not self.TLS  # TLS has its own layer in between
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnected
            and not self._tempDataLen
            and self.offset == len(self.dataBuffer)  # nothing queued before this
        ):
            sent = self.writeSomeData(data)
            # An error is not handled here: the buffered path meets it again when the loop
            # finds the socket writable, and closes the connection the way Twisted does.
            if isinstance(sent, int) and sent > 0:
                if sent >= len(data):
                    return
                data = data[sent:]
        buffered_write(self, data)

    write.prompt = True  # type: ignore[attr-defined]
    tcp.Connection.write = write  # type: ignore[method-assign]


class _Deferred:
    """`func(*args, **kwargs)`, worked out when a log line is actually formatted, not before."""

    __slots__ = ("args", "func", "kwargs")

    def __init__(self, func: Any, args: tuple, kwargs: dict[str, Any]) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs

    def __format__(self, spec: str) -> str:
        return format(self.func(*self.args, **self.kwargs), spec)

    def __str__(self) -> str:
        return format(self, "")


def _deferred(func: Any) -> Any:
    def later(*args: Any, **kwargs: Any) -> _Deferred:
        return _Deferred(func, args, kwargs)

    later.deferred = func  # type: ignore[attr-defined]
    return later


def _pformat(value: Any) -> str:
    from pprint import pformat

    return pformat(value)


def quiet_connection_log() -> None:
    """Autobahn's per-connection configuration dump is formatted only when logged (its log
    calls' arguments); `Timings.__str__`, which must return a string, formats at once."""
    from pprint import pformat

    from autobahn.websocket import protocol as _protocol

    protocol: Any = _protocol  # its module globals are replaced, not its typed API
    if hasattr(protocol.pformat, "deferred"):
        return
    protocol.pformat = _deferred(_pformat)
    protocol.Timings.__str__ = lambda self: pformat(self._timings)


class XorMasker:
    """Autobahn's websocket (un)masker, as one XOR of two integers: its own (a C extension
    through cffi) allocated two buffers and a masker object per frame, ~9 us for a `ping`, where
    this takes ~1 us at that size and runs at C speed at any size. Same interface (`pointer`,
    `reset`, `process` on successive chunks of one frame's payload)."""

    __slots__ = ("mask", "ptr")

    def __init__(self, mask: bytes, length: int | None = None) -> None:
        self.mask = bytes(mask)
        self.ptr = 0

    def pointer(self) -> int:
        return self.ptr

    def reset(self) -> None:
        self.ptr = 0

    def process(self, data: bytes) -> bytes:
        size = len(data)
        if not size:
            return b""
        shift = self.ptr % 4
        key = (self.mask[shift:] + self.mask[:shift]) * (size // 4 + 1)
        self.ptr += size
        masked = int.from_bytes(data, "little") ^ int.from_bytes(key[:size], "little")
        return masked.to_bytes(size, "little")


def plain_masks() -> None:
    """Autobahn's websocket protocol masks and unmasks frames with `XorMasker`."""
    from autobahn.websocket import protocol as _protocol

    protocol: Any = _protocol  # its module globals are replaced, not its typed API
    protocol.create_xor_masker = XorMasker


def quiet_frame_log() -> None:
    """Autobahn's debug lines on every frame received and sent, and on every handshake, name
    their function and values (`hltype`, `hlval`: a qualified name looked up and joined, a
    value formatted) before the logger drops the line: about 5 % of the CPU of answering a
    ping. They are worked out only when a line is formatted."""
    from autobahn.twisted import websocket as _twisted
    from autobahn.websocket import protocol as _protocol

    for module in (_protocol, _twisted):
        for name in ("hltype", "hlval"):
            func = getattr(module, name)
            if not hasattr(func, "deferred"):
                setattr(module, name, _deferred(func))


#: The ports this process listens on (Twisted's listening ports), closed first at a graceful stop.
LISTENING: list = []

#: How long a graceful stop waits for the sockets to finish what they had taken.
DRAIN_SECONDS = 10.0


def graceful_stop() -> None:
    """On SIGTERM, every socket is told to reconnect (a `restart` frame with a jittered delay,
    then close 4012) and lets go once the frames it had taken are stored and answered; then the
    server stops as Daphne would. Without this, SIGTERM cancelled every socket at once: clients
    saw a dropped connection (1006) and all came back together.

    A second SIGTERM (or SIGINT) stops at once.
    """
    import signal

    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor  # the running reactor; Twisted's stubs type the module, not it

    def stop_now(*_args) -> None:
        reactor.callFromThread(reactor.stop)

    def drain_then_stop() -> None:
        from django.conf import settings

        # No new connections from here on: a proxy in front (nginx) gets a refusal and takes the
        # next server at once, instead of handing a reconnecting client to a process that is
        # about to go (it would be cut when the process stops, and come back a second time).
        for port in LISTENING:
            port.stopListening()

        from realtime.sockets import sockets_close_for_restart

        async def drain() -> None:
            try:
                closed = await sockets_close_for_restart(
                    spread_seconds=settings.CHAT_RESTART_SPREAD_SECONDS, timeout=DRAIN_SECONDS
                )
                print(f"stopping: {closed} socket(s) told to reconnect", file=sys.stderr)
            finally:
                if reactor.running:
                    reactor.stop()

        asyncio.get_event_loop().create_task(drain())

    def on_term(*_args) -> None:
        signal.signal(signal.SIGTERM, stop_now)
        reactor.callFromThread(drain_then_stop)

    # After Twisted has installed its own handlers (it does so as the reactor starts).
    reactor.callWhenRunning(lambda: signal.signal(signal.SIGTERM, on_term))


def tune() -> None:
    """The changes below the application (module docstring): the loop, prompt writes, and
    Autobahn's quiet connection log; then Daphne's server module, which installs Twisted's
    asyncio reactor on that loop (before anything imports Twisted's default reactor); then
    Autobahn's quiet frame log (its Twisted module comes with Daphne's) and its masks."""
    choose_loop()
    prompt_writes()
    quiet_connection_log()
    import daphne.server  # noqa: F401

    quiet_frame_log()
    plain_masks()


def server_class() -> type:
    """Daphne's `Server`, keeping its listening ports for a graceful stop, handing each
    application a `Mailbox` as its input queue, and keeping its connections' books by event
    (`helao_chat.connections`)."""
    from daphne.server import Server

    from helao_chat.connections import EventBookkeeping

    class StoppableServer(EventBookkeeping, Server):
        def run(self):
            self.endpoints: list[str] = with_backlog(list(self.endpoints), listen_backlog())
            return super().run()

        def listen_success(self, port):
            LISTENING.append(port)
            return super().listen_success(port)

        def reply_now(self, protocol, text: str) -> None:
            """Sends `text` on `protocol`'s websocket at once (a `Mailbox` answer), as
            `handle_reply` would a `websocket.send`, if the socket is still there."""
            details = self.connections.get(protocol)
            if details is not None and not details.get("disconnected"):
                protocol.handle_reply({"type": "websocket.send", "text": text})

        def create_application(self, protocol, scope):
            """Daphne's own (daphne/server.py, 4.x), with a `Mailbox` as the application's
            input queue instead of an `asyncio.Queue`: see realtime/mailbox.py."""
            from functools import partial

            from realtime.mailbox import Mailbox

            assert "application_instance" not in self.connections[protocol]
            input_queue = Mailbox()
            input_queue.reply = partial(self.reply_now, protocol)
            scope.setdefault("asgi", {"version": "3.0"})
            application_instance = self.application(
                scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
            )
            if protocol not in self.connections:
                return None
            instance = asyncio.ensure_future(application_instance, loop=asyncio.get_event_loop())
            self.connections[protocol]["application_instance"] = instance
            self.application_started(protocol, instance)
            return input_queue

    return StoppableServer


def run(argv: list[str]) -> None:
    """Daphne's command line with the product's server class and default flags."""
    from daphne.cli import CommandLineInterface

    cli = CommandLineInterface()
    cli.server_class = server_class()
    cli.run(with_default_flags(argv))


def main(argv: list[str] | None = None) -> None:
    listen_backlog()  # a wrong value is refused before anything starts
    tune()
    graceful_stop()
    run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
