"""New chats a second: visitors arriving at a fixed rate, each `hello` → `conversation.start`.

Each visitor opens its own socket as the panel does (hello with language and screen, then
`conversation.start` with its first message, page and language once `welcome` has said an agent
is online). Its latency is from sending `conversation.start` to receiving
`conversation.started`, timed in this process. A start answered `overloaded` is *shed* (the panel
would resend it later), one that has no answer when the step's drain time is over is *lost*; any
other error is counted by its code. The agents' consoles stay online (heartbeat as the console
does) and receive every new chat in their queue; nobody claims them, as on a burst of new chats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from typing import Any

from websockets.asyncio.client import ClientConnection

from . import loadgen
from .common import Server

#: A step passes with p99 under this, nothing shed, lost or refused, and the rate kept.
P99_GOAL_MS = 250.0
TEXT = "Hei! Tilaukseni ei ole vielä tullut, voitteko tarkistaa?"


async def _visitor(origin: str, out: dict[str, Any]) -> None:
    ws: ClientConnection | None = None
    try:
        ws = await loadgen.connect(
            origin.replace("http://", "ws://") + "/ws/visitor/",
            origin=origin,
            user_agent_header=loadgen.UA,
            open_timeout=20,
        )
        out["sockets"].append(ws)
        await ws.send(json.dumps({"type": "hello", "lang": "fi", "screen": "1920x1080"}))
        cmid = uuid.uuid4().hex
        t0 = None
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "welcome" and t0 is None:
                t0 = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {
                            "type": "conversation.start",
                            "text": TEXT,
                            "client_msg_id": cmid,
                            "ref": cmid,
                            "lang": "fi",
                            "screen": "1920x1080",
                            "page": {
                                "url": "https://www.example.org/orders/",
                                "title": "Orders",
                                "referrer": "https://www.example.org/",
                            },
                        }
                    )
                )
            elif kind == "conversation.started" and t0 is not None:
                out["latencies"].append((time.perf_counter() - t0) * 1000)
                return
            elif kind == "error" and frame.get("ref") == cmid:
                code = frame.get("code", "?")
                out["shed" if code == "overloaded" else "errors"][code] += 1
                return
    except Exception as exc:
        out["errors"][f"socket: {type(exc).__name__}"] += 1


async def step(origin: str, rate: float, seconds: float, drain: float = 5.0) -> dict[str, Any]:
    """`rate` new visitors a second for `seconds`; returns the step's figures."""
    out: dict[str, Any] = {
        "latencies": [],
        "shed": Counter(),
        "errors": Counter(),
        "sockets": [],
    }
    total = max(1, int(rate * seconds))
    tasks = []
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_visitor(origin, out)))
    send_end = time.perf_counter()
    _, slow = await asyncio.wait(tasks, timeout=drain) if tasks else (set(), set())
    for task in slow:
        task.cancel()
    await asyncio.gather(*slow, return_exceptions=True)
    lost = len(slow)
    await asyncio.gather(*(_close(ws) for ws in out["sockets"]), return_exceptions=True)
    lat = out["latencies"]
    shed = sum(out["shed"].values())
    return {
        "rate": rate,
        "seconds": seconds,
        "visitors": total,
        "started": len(lat),
        "shed": shed,
        "lost": lost,
        "errors": dict(out["errors"]),
        "achieved_rate": round(total / max(send_end - start, 1e-9), 1),
        "p50_ms": _r(loadgen.percentile(lat, 50)),
        "p99_ms": _r(loadgen.percentile(lat, 99)),
        "max_ms": _r(max(lat) if lat else None),
    }


def passes(s: dict[str, Any]) -> bool:
    return (
        s["p99_ms"] is not None
        and s["p99_ms"] < P99_GOAL_MS
        and s["shed"] == 0
        and s["lost"] == 0
        and not s["errors"]
        and s["achieved_rate"] >= 0.95 * s["rate"]
    )


async def _close(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 2)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


async def _measured(
    server: Server, rate: float, seconds: float, drain: float, settle_limit: float = 8
) -> dict[str, Any]:
    from .runner import Meter, settle

    waited = await settle([server], settle_limit)
    with Meter([server]) as meter:
        s = await step(server.origin, rate, seconds, drain)
    s["server_cpu_ms_per_start"] = round(meter.cpu * 1000 / max(s["started"], 1), 2)
    s["server_cpu_pct"] = round(meter.cpu / meter.wall * 100, 0)
    s["loadgen_cpu_pct"] = round(meter.me_cpu / meter.wall * 100, 0)
    s["server_rss_mb"] = round(meter.rss_mb, 1)
    s["settle_waited_s"] = waited
    s["loadavg_1m"] = round(__import__("os").getloadavg()[0], 1)
    s["ok"] = passes(s)
    return s


async def ramp(
    server: Server,
    cookies: list[str],
    rates: list[float],
    seconds: float,
    log,
    agents: int = 4,
    budget: float = 120,
    settle_limit: float = 8,
) -> dict[str, Any]:
    """The reference step at 100 starts/s, then the ramp until a step fails (a step failing on
    latency alone is run once more, as the message ramp does: one stall on a shared machine)."""
    protocol = loadgen.ProductProtocol([server.origin], cookies)
    run = loadgen.Run()
    run.agents = [await protocol.open_agent(run, i) for i in range(agents)]
    heartbeat = asyncio.create_task(protocol.heartbeat(run))
    drain = 5.0
    result: dict[str, Any] = {"agents": agents, "ramp": []}
    try:
        await asyncio.sleep(0.5)  # presence lands before the first start
        await step(server.origin, 10, 1, drain)  # warm-up, not counted
        ref = await _measured(server, 100.0, seconds, drain, settle_limit)
        result["reference_100"] = ref
        log(f"starts: 100/s p99={ref['p99_ms']} shed={ref['shed']} lost={ref['lost']}")
        best = None
        end = time.monotonic() + budget
        for rate in rates:
            if time.monotonic() > end:
                result["ramp_cut"] = f"time budget of {budget:.0f} s used up"
                break
            secs = max(seconds, 30 / rate)
            s = await _measured(server, rate, secs, drain, settle_limit)
            if not s["ok"] and not (s["shed"] or s["lost"] or s["errors"]):
                again = await _measured(server, rate, secs, drain, settle_limit)
                again["first_try"] = {k: s[k] for k in ("p99_ms", "max_ms", "loadavg_1m")}
                s = again
            result["ramp"].append(s)
            log(
                f"starts: {rate:.0f}/s p99={s['p99_ms']} shed={s['shed']} lost={s['lost']} "
                f"cpu={s['server_cpu_ms_per_start']} ms/start ok={s['ok']}"
            )
            if not s["ok"]:
                break
            best = s
        result["starts_per_s_max"] = best["rate"] if best else None
        result["start_p99_ms_at_100"] = ref["p99_ms"]
        result["cpu_ms_per_start_at_100"] = ref["server_cpu_ms_per_start"]
    finally:
        heartbeat.cancel()
        await loadgen.teardown(run)
    return result


async def profile(server: Server, cookies: list[str], rate: float, seconds: float, prof_path):
    """One cProfile run of the start path (`bench.profile_server`, SIGUSR1/SIGUSR2)."""
    import os
    import pstats
    import signal

    from . import report

    protocol = loadgen.ProductProtocol([server.origin], cookies)
    run = loadgen.Run()
    run.agents = [await protocol.open_agent(run, i) for i in range(2)]
    try:
        await asyncio.sleep(0.5)
        await step(server.origin, rate, 1)  # warm-up, not profiled
        os.kill(server.pid, signal.SIGUSR1)
        s = await step(server.origin, rate, seconds)
        os.kill(server.pid, signal.SIGUSR2)
        for _ in range(100):
            if prof_path.exists():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        await loadgen.teardown(run)
    stats = pstats.Stats(str(prof_path))
    step_like = {"sent": s["started"], "delivered": s["started"], **s}
    return report.profile_summary(stats, step_like, units=max(s["started"], 1))
