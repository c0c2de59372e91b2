"""Idle visitor sockets opened from a process of their own.

`python -m bench.idle ORIGIN PID COUNT TIME_LIMIT` opens COUNT idle visitor sockets to the Daphne
process PID serving ORIGIN and prints one JSON line: its RSS growth per socket and idle CPU. Run
apart from the benchmark's own event loop, so that the soak can run meanwhile without the
openings delaying its load generator.
"""

from __future__ import annotations

import asyncio
import json
import sys

from . import loadgen, runner
from .common import Process, raise_fd_limit


def main(argv: list[str]) -> None:
    origin, pid, count, limit = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    raise_fd_limit(count + 1000)
    protocol = loadgen.ProductProtocol([origin], [])
    dummy = loadgen.Run()

    async def open_greeted():
        # As the panel does: a socket that never sends a frame is closed after 30 s, which
        # would close the first sockets while the last ones are still opening.
        sock = await protocol.open_visitor(origin, dummy)
        sock.send({"type": "hello"})
        return sock

    result = asyncio.run(
        runner.idle(
            Process(pid),
            open_greeted,
            count,
            lambda msg: print(msg, file=sys.stderr, flush=True),
            limit,
        )
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
