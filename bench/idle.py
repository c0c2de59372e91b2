"""Idle visitor sockets opened from a process of their own.

    python -m bench.idle ORIGIN PID COUNT TIME_LIMIT [--kind product|baseline]
                         [--marks 5000,...] [--cpu-seconds S]

opens COUNT idle visitor sockets to the server process PID serving ORIGIN and prints one JSON
line: its RSS growth per socket (also at each of `--marks`) and its idle CPU over `--cpu-seconds`.
Every socket pings as the browsers' do while idle (`{"type": "ping"}` every PING_EVERY_MS of
`static/shared/socket.js`, spread over the period); the baselines ignore the frame, which is the
same work of reading it. Run apart from the benchmark's own event loop, so that the soak can run
meanwhile without the openings delaying its load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys

from . import backoff, loadgen, runner
from .common import Process, raise_fd_limit


class _Baseline:
    """A baseline's visitor socket (`?conv=ID`), kept open and read so that pings are answered."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for _ in self.ws:
                pass

    def send(self, frame: dict) -> None:
        asyncio.ensure_future(self.ws.send(json.dumps(frame)))  # noqa: RUF006 - fire and forget

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle")
    parser.add_argument("origin")
    parser.add_argument("pid", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("limit", type=float)
    parser.add_argument("--kind", choices=["product", "baseline"], default="product")
    parser.add_argument("--marks", default="", help="socket counts to read the RSS at on the way")
    parser.add_argument("--cpu-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    raise_fd_limit(args.count + 1000)
    origin = args.origin
    counter = itertools.count(3 * 10**9)

    async def open_product():
        protocol = loadgen.ProductProtocol([origin], [])
        # As the panel does: a socket that never sends a frame is closed after 30 s, which
        # would close the first sockets while the last ones are still opening.
        sock = await protocol.open_visitor(origin, loadgen.Run())
        sock.send({"type": "hello", "lang": "fi", "screen": "1920x1080"})
        return sock

    async def open_baseline():
        url = origin.replace("http://", "ws://") + f"/ws/visitor/?conv={next(counter)}"
        return _Baseline(await loadgen.connect(url, open_timeout=20))

    result = asyncio.run(
        runner.idle(
            Process(args.pid),
            open_product if args.kind == "product" else open_baseline,
            args.count,
            lambda msg: print(msg, file=sys.stderr, flush=True),
            args.limit,
            marks=tuple(int(m) for m in args.marks.split(",") if m),
            cpu_seconds=args.cpu_seconds,
            ping=lambda sock: sock.send({"type": "ping"}),
            ping_every=backoff.constants()["PING_EVERY_MS"] / 1000,
        )
    )
    result["kind"] = args.kind
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
