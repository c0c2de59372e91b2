"""What findings 1 and 2 would buy, measured without touching the product's code.

`python -m bench.experiment` runs the product twice at the same small loads: as it is, and with
two changes applied at launch by monkeypatching (in this benchmark process tree only):

- `AsyncConsumer.dispatch` calls the handler without `aclose_old_connections()` first;
- `database_sync_to_async` / the consumers' `sync_to_async` run with `thread_sensitive=False`,
  i.e. on the event loop's default thread pool (one database connection per worker thread)
  instead of all on one thread.

Results go to var/bench/experiment.json; `python -m bench` puts them in docs/benchmarks.md.

    python -m bench.experiment            # the A/B comparison
    python -m bench.experiment serve PORT # (internal) Daphne with the changes applied
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from typing import Any

from .common import PYTHON, ROOT, Server, daphne_args, free_port

RESULT = ROOT / "var" / "bench" / "experiment.json"


def _patch() -> None:
    import functools

    import asgiref.sync
    import channels.consumer
    import channels.db

    async def dispatch(self, message):
        handler = getattr(self, channels.consumer.get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    channels.consumer.AsyncConsumer.dispatch = dispatch

    original_init = channels.db.DatabaseSyncToAsync.__init__

    def init(self, func, thread_sensitive=True, executor=None, context=None):
        original_init(self, func, thread_sensitive=False, executor=executor, context=context)

    channels.db.DatabaseSyncToAsync.__init__ = init

    import chat.consumers

    chat.consumers.sync_to_async = functools.partial(
        asgiref.sync.sync_to_async, thread_sensitive=False
    )


def serve(port: int) -> None:
    import django

    django.setup()
    _patch()
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(daphne_args(port))


async def _variant(name: str, server: Server, cookies: list[str], rates: list[float]) -> dict:
    from . import loadgen, runner

    protocol = loadgen.ProductProtocol([server.origin], cookies)
    t0 = time.perf_counter()
    run = await loadgen.setup(protocol, 20, 4, time_limit=30)
    out: dict[str, Any] = {
        "variant": name,
        "setup_s": round(time.perf_counter() - t0, 1),
        "conversations": len(run.pairs),
        "steps": [],
    }
    try:
        await asyncio.sleep(1)
        for rate in rates:
            step = await runner._step(run, [server], rate, 6, 4)
            keep = ("rate", "sent", "p50_ms", "p99_ms", "lost", "server_cpu_ms_per_msg")
            out["steps"].append({k: step[k] for k in keep} | {"load": step["loadavg_1m"]})
            print(f"{name}: {out['steps'][-1]}", file=sys.stderr, flush=True)
    finally:
        await loadgen.teardown(run)
    return out


async def compare(rates: list[float]) -> dict[str, Any]:
    from . import product

    cookies = product.prepare_database(4)
    results = []
    for name in ("as is", "patched: no dispatch hop, thread_sensitive=False"):
        port = free_port()
        if name == "as is":
            server = product.daphne(port, "experiment-as-is")
        else:
            server = Server(
                "experiment-patched",
                [PYTHON, "-m", "bench.experiment", "serve", str(port)],
                product.env(),
                port,
            )
        server.start()
        try:
            results.append(await _variant(name, server, cookies, rates))
        finally:
            server.stop()
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "variants": results}


def markdown() -> list[str]:
    if not RESULT.exists():
        return []
    data = json.loads(RESULT.read_text())
    lines = [
        "## Experiment: findings 1 and 2 applied at launch",
        "",
        f"`python -m bench.experiment` ({data['date']}, a separate, earlier run on the same "
        "machine): the product as it is against the same code started with "
        "`AsyncConsumer.dispatch` not hopping to a thread first and `thread_sensitive=False` "
        "for its sync units (monkeypatched at launch; the product's code is unchanged). "
        "20 conversations, 6 s per step. Read it with the load average column: on a machine "
        "this busy the two variants did not run under the same conditions, so this is a "
        "direction to re-measure on a quiet machine, not a result.",
        "",
        "| variant | set-up s | rate msg/s | sent | p50 ms | p99 ms | lost | server CPU ms/msg "
        "| load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in data["variants"]:
        for s in v["steps"]:
            lines.append(
                f"| {v['variant']} | {v['setup_s']} | {s['rate']:.0f} | {s['sent']} | "
                f"{s['p50_ms']} | {s['p99_ms']} | {s['lost']} | {s['server_cpu_ms_per_msg']} | "
                f"{s['load']} |"
            )
    return [*lines, ""]


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
        return
    result = asyncio.run(compare([5.0, 15.0, 30.0]))
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
