"""`python -m bench [--quick]`: the product and two baselines side by side, on loopback only.

Steps: the message path (load points, ramp, overload, two processes, profile); new chats a
second (`bench/starts.py`, and a profile of the start path); a rolling restart under thousands
of chats (`bench/storm.py`); the baselines; then the soak, with the idle sockets (10,000 on one
process, `bench/idle.py`; the baselines' idle sockets in their own steps) and the retention purge
beside it. `--quick` keeps every step and every key of the summary line with smaller counts.

Writes docs/benchmarks.md, with every figure of the summary line beside the one in the report it
replaces (the previous run), and prints one JSON summary object as its last line. Every server it
starts is its own child process, stopped by PID in a `finally`; every step has a fixed duration.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
import traceback
from typing import Any

from . import loadgen, product, report, routing, runner, starts, storm
from .common import (
    BIN,
    PG,
    PYTHON,
    REDIS_URL,
    ROOT,
    Server,
    commit_probe,
    delete_redis_keys,
    drop_database,
    free_port,
    machine,
    raise_fd_limit,
    recreate_database,
)

PURGE_KEYS = (
    "purge_rows_per_s",
    "purge_orm_rows_per_s",
    "purge_single_delete_rows_per_s",
    "purge_longest_transaction_ms",
    "purge_peak_rss_mb",
)
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


# --- the product -------------------------------------------------------------------------------


async def bench_product(plan: runner.Plan, out: dict[str, Any]) -> None:
    agents = runner.agents_for(max([*plan.load_points, plan.ramp_conversations]))
    t = time.perf_counter()
    cookies = product.prepare_database(agents)
    log(f"product: database ready in {time.perf_counter() - t:.1f} s")
    server = product.daphne(free_port()).start()
    try:
        try:
            _, cookie = product.login(server.origin)
            cookies = [cookie, *cookies[1:]]
            out["login"] = "ok"
        except Exception as exc:
            out["login"] = f"HTTP login failed ({_reason(exc)}); direct sessions used"
        try:
            out["sizes"] = product.sizes(server.origin)
        except Exception as exc:
            out["sizes"] = {"error": _reason(exc)}
        protocol = loadgen.ProductProtocol([server.origin], cookies)
        out["single"] = await runner.measure("product", [server], protocol, plan, log)
        out["single"]["server_errors_logged"] = server.error_lines()
        out["single"]["server_log_tail"] = server.tail(8)
    finally:
        server.stop()
    # Two processes: visitors on one, their agent often on the other (cross-process fan-out).
    try:
        s1, s2 = product.daphne(free_port(), "product-1"), product.daphne(free_port(), "product-2")
        try:
            s1.start()
            s2.start()
            protocol = loadgen.ProductProtocol([s1.origin, s2.origin], cookies)
            start = out["single"].get("max_msgs_per_s") or plan.ramp_rates[0]
            out["two_process"] = await runner.two_process([s1, s2], protocol, plan, start, log)
        finally:
            s1.stop()
            s2.stop()
    except Exception as exc:
        out["two_process"] = {"error": _reason(exc)}
        log(f"two processes failed: {_reason(exc)}")
    # One profile of the message path, at about the rate it sustains (full runs only).
    if plan is runner.QUICK:
        out["profile"] = {"error": "skipped in the quick run"}
        return
    try:
        rate = min(200.0, max(10.0, float(out["single"].get("max_msgs_per_s") or 10)))
        out["profile"] = await profile(plan, cookies, rate)
    except Exception as exc:
        out["profile"] = {"error": _reason(exc)}
        log(f"profile failed: {_reason(exc)}")


def _idle_in_subprocess(
    server: Server, plan: runner.Plan, count: int, kind: str = "product"
) -> dict[str, Any]:
    """`bench.idle` in a process of its own: `count` idle visitor sockets to `server`."""
    args = [server.origin, str(server.pid), str(count), str(plan.idle_limit), "--kind", kind]
    args += ["--marks", str(plan.idle_mark), "--cpu-seconds", str(plan.idle_cpu_seconds)]
    proc = subprocess.run(
        [PYTHON, "-m", "bench.idle", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=plan.idle_limit + plan.idle_cpu_seconds + 120,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-500:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def bench_soak_and_idle(plan: runner.Plan, quick: bool, results: dict[str, Any]) -> None:
    """The soak on one process; while it runs, the idle sockets (another process, opened from a
    subprocess) and the purge benchmark (in PostgreSQL). Live chat during a purge is what
    production sees; the idle figure is one process's RSS, which the soak does not touch."""
    out = results.setdefault("product", {})
    cookies = product.prepare_database(runner.agents_for(plan.soak_visitors))
    soak_server = product.daphne(free_port(), "product-soak").start()
    try:
        protocol = loadgen.ProductProtocol([soak_server.origin], cookies)
        soak = asyncio.create_task(runner.soak(soak_server, protocol, plan, log))
        await asyncio.sleep(min(30.0, plan.soak_seconds / 4))  # the soak is under way

        async def idle() -> None:
            try:
                idle_server = product.daphne(free_port(), "product-idle").start()
                try:
                    out["idle"] = await asyncio.to_thread(
                        _idle_in_subprocess, idle_server, plan, plan.idle_sockets
                    )
                    out["idle"]["during_soak"] = not soak.done()
                    out["idle"]["launcher"] = await asyncio.to_thread(launcher_cost, idle_server)
                finally:
                    idle_server.stop()
            except Exception as exc:
                out["idle"] = {"error": _reason(exc)}
                log(f"idle sockets failed: {_reason(exc)}")

        async def purge() -> None:
            t = time.perf_counter()
            results["purge"] = await asyncio.to_thread(bench_purge, quick)
            results["purge"]["during_soak"] = not soak.done()
            results["purge_seconds"] = round(time.perf_counter() - t, 1)

        if quick:  # side by side, to stay within the quick run's time
            await asyncio.gather(idle(), purge())
        else:  # one after the other, well within the soak
            await idle()
            await purge()
        try:
            out["soak"] = await soak
        except Exception as exc:
            out["soak"] = {"error": _reason(exc)}
            log(f"soak failed: {_reason(exc)}")
    finally:
        soak_server.stop()


def launcher_cost(server: Server) -> dict[str, Any]:
    """What a page view with the launcher costs the server: one GET of /widget.js, no socket."""
    import urllib.error
    import urllib.request

    url = f"{server.origin}/widget.js"
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except urllib.error.HTTPError as exc:
        return {"cpu_ms_per_load": None, "reason": f"/widget.js answered HTTP {exc.code}"}
    cpu0 = server.cpu_seconds()
    n = 100
    for _ in range(n):
        urllib.request.urlopen(url, timeout=10).read()
    return {"cpu_ms_per_load": round((server.cpu_seconds() - cpu0) * 1000 / n, 2), "sockets": 0}


async def profile(plan: runner.Plan, cookies: list[str], rate: float) -> dict[str, Any]:
    """One cProfile run of the message path at a rate the product sustains (or nearly)."""
    import os
    import pstats
    import signal

    port = free_port()
    prof_path = ROOT / "var" / "bench" / "product.prof"
    prof_path.unlink(missing_ok=True)
    server = Server(
        "product-profile",
        [PYTHON, "-m", "bench.profile_server", str(port), str(prof_path)],
        product.env(),
        port,
    )
    server.start()
    seconds = 4 if plan is runner.QUICK else 12
    conversations = 10 if plan is runner.QUICK else 50
    try:
        protocol = loadgen.ProductProtocol([server.origin], cookies)
        run = await loadgen.setup(
            protocol, conversations, runner.agents_for(conversations), time_limit=plan.setup_limit
        )
        try:
            await loadgen.drive(run, rate, 1, drain=2)  # warm-up, not profiled
            await runner.settle([server], 4)
            os.kill(server.pid, signal.SIGUSR1)
            step = await loadgen.drive(run, rate, seconds, drain=2 if plan is runner.QUICK else 5)
            os.kill(server.pid, signal.SIGUSR2)
            for _ in range(100):
                if prof_path.exists():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
        finally:
            await loadgen.teardown(run)
    finally:
        server.stop()
    stats = pstats.Stats(str(prof_path))
    return report.profile_summary(stats, step, len(run.pairs))


# --- new chats a second, the reconnect storm ---------------------------------------------------


async def bench_starts(plan: runner.Plan, out: dict[str, Any]) -> None:
    """The starts ramp on one process, then one profile of the start path."""
    cookies = product.prepare_database(4)
    product.close_open_conversations()
    try:
        server = product.daphne(free_port(), "product-starts").start()
        try:
            out.update(
                await starts.ramp(
                    server,
                    cookies,
                    list(plan.starts_rates),
                    plan.starts_seconds,
                    log,
                    budget=plan.starts_budget,
                    settle_limit=plan.settle_limit,
                )
            )
            out["server_errors_logged"] = server.error_lines()
        finally:
            server.stop()
        product.close_open_conversations()
        try:
            out["profile"] = await start_profile(plan, cookies)
        except Exception as exc:
            out["profile"] = {"error": _reason(exc)}
            log(f"start profile failed: {_reason(exc)}")
    finally:
        product.close_open_conversations()


async def start_profile(plan: runner.Plan, cookies: list[str]) -> dict[str, Any]:
    """cProfile of the start path at a rate well below the knee (20 starts/s)."""
    port = free_port()
    prof_path = ROOT / "var" / "bench" / "starts.prof"
    prof_path.unlink(missing_ok=True)
    server = Server(
        "product-starts-profile",
        [PYTHON, "-m", "bench.profile_server", str(port), str(prof_path)],
        product.env(),
        port,
    ).start()
    try:
        return await starts.profile(server, cookies, 20.0, plan.starts_profile_seconds, prof_path)
    finally:
        server.stop()


async def bench_storm(plan: runner.Plan, out: dict[str, Any]) -> None:
    """A rolling restart under `storm_visitors` chats and `storm_consoles` consoles."""
    cookies = product.prepare_database(plan.storm_consoles)
    product.close_open_conversations()
    port = free_port()
    server = product.daphne(port, "product-storm-1").start()
    new: Server | None = None
    try:
        result, new = await storm.storm(
            server,
            lambda p: product.daphne(p, "product-storm-2"),
            cookies,
            visitors=plan.storm_visitors,
            consoles=plan.storm_consoles,
            rate=plan.storm_rate,
            setup_limit=plan.storm_setup_limit,
            limit=plan.storm_limit,
            log=log,
            drain=plan.storm_drain,
        )
        sent_ids = result.pop("sent_ids", [])
        out.update(result)
        out["stored_twice"] = storm.stored_twice(product.DB_NAME, sent_ids)
        out["server_errors_logged"] = server.error_lines() + (new.error_lines() if new else 0)
        out["old_server_log_tail"] = server.tail(6)
    finally:
        server.stop()
        if new is not None:
            new.stop()
        product.close_open_conversations()


# --- baselines ---------------------------------------------------------------------------------


async def bench_baseline_a(plan: runner.Plan, out: dict[str, Any], idle_only: bool = False) -> None:
    db = "helao_bench_a"
    prefix = "helao-bench-a"
    recreate_database(db)
    delete_redis_keys(prefix)
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.baseline_a.settings",
        "BENCH_A_DB": db,
        "REDIS_URL": REDIS_URL,
        "CHANNEL_PREFIX": prefix,
    }
    import os
    import subprocess

    subprocess.run(
        [str(BIN / "django-admin"), "migrate", "--run-syncdb", "-v0"],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=120,
    )
    cmd = [
        str(BIN / "daphne"),
        "-b",
        "127.0.0.1",
        "--websocket-max-message-size",
        "262144",
        "--access-log",
        "/dev/null",
    ]
    app = "bench.baseline_a.asgi:application"
    try:
        if not idle_only:
            port = free_port()
            server = Server("baseline-a", [*cmd, "-p", str(port), app], env, port)
            server.start()
            try:
                protocol = loadgen.BaselineProtocol([server.origin])
                out["single"] = await runner.measure("baseline A", [server], protocol, plan, log)
                out["single"]["server_errors_logged"] = server.error_lines()
                out["single"]["server_log_tail"] = server.tail(8)
            finally:
                server.stop()
        if plan.baseline_idle_sockets:
            port = free_port()
            server = Server("baseline-a-idle", [*cmd, "-p", str(port), app], env, port)
            server.start()
            try:
                out["idle"] = await _baseline_idle(server, plan)
            finally:
                server.stop()
    finally:
        drop_database(db)
        delete_redis_keys(prefix)


async def _baseline_idle(server: Server, plan: runner.Plan) -> dict[str, Any]:
    return await asyncio.to_thread(
        _idle_in_subprocess, server, plan, plan.baseline_idle_sockets, "baseline"
    )


async def bench_baseline_b(plan: runner.Plan, out: dict[str, Any], idle_only: bool = False) -> None:
    db = "helao_bench_b"
    prefix = "helao-bench-b"
    recreate_database(db)
    try:
        port = free_port()

        def make(port: int, name: str) -> Server:
            return Server(
                name,
                [
                    PYTHON,
                    "-m",
                    "bench.baseline_b",
                    "--port",
                    str(port),
                    "--dsn",
                    f"{PG}/{db}",
                    "--redis",
                    REDIS_URL,
                    "--prefix",
                    prefix,
                ],
                {},
                port,
            )

        if not idle_only:
            server = make(port, "baseline-b").start()
            try:
                protocol = loadgen.BaselineProtocol([server.origin])
                out["single"] = await runner.measure("baseline B", [server], protocol, plan, log)
                out["single"]["server_errors_logged"] = server.error_lines()
            finally:
                server.stop()
        if plan.baseline_idle_sockets:
            server = make(free_port(), "baseline-b-idle").start()
            try:
                out["idle"] = await _baseline_idle(server, plan)
            finally:
                server.stop()
    finally:
        drop_database(db)


def bench_purge(quick: bool) -> dict[str, Any]:
    try:
        from . import purge  # written by the retention work; optional here
    except ImportError as exc:
        return {k: None for k in PURGE_KEYS} | {
            "markdown": f"Not measured: `bench/purge.py` is not available ({exc})."
        }
    except Exception as exc:
        return {k: None for k in PURGE_KEYS} | {
            "markdown": f"Not measured: `bench/purge.py` failed to import ({_reason(exc)})."
        }
    try:
        return purge.run(quick)
    except Exception as exc:
        traceback.print_exc()
        return {k: None for k in PURGE_KEYS} | {
            "markdown": f"Not measured: the purge benchmark failed ({_reason(exc)})."
        }


async def bench_idle_alone(plan: runner.Plan, results: dict[str, Any]) -> None:
    """`--only idle`: the idle sockets of the product and both baselines, nothing else."""
    product.prepare_database(2)
    out = results.setdefault("product", {})
    server = product.daphne(free_port(), "product-idle").start()
    try:
        out["idle"] = await asyncio.to_thread(_idle_in_subprocess, server, plan, plan.idle_sockets)
    finally:
        server.stop()
    for key, func in (("baseline_a", bench_baseline_a), ("baseline_b", bench_baseline_b)):
        results[key] = {}
        try:
            await func(plan, results[key], idle_only=True)
        except Exception as exc:
            results[key]["error"] = _reason(exc)


# --- main ----------------------------------------------------------------------------------------


async def amain(quick: bool, only: set[str] | None = None) -> dict[str, Any]:
    plan = runner.QUICK if quick else runner.FULL
    results: dict[str, Any] = {
        "quick": quick,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "plan": plan.__dict__,
        "fd_limit": raise_fd_limit(20000),
    }
    need = max(plan.idle_sockets, plan.baseline_idle_sockets, plan.storm_visitors) + 1000
    if results["fd_limit"] < need:
        log(f"open files limited to {results['fd_limit']} (hard limit): {need} are needed")
    try:
        recreate_database("helao_bench_b")
        results["commit_probe"] = commit_probe("helao_bench_b")
    except Exception as exc:
        results["commit_probe"] = {"error": _reason(exc)}
    for key, func in (
        ("product", bench_product),
        ("starts", bench_starts),
        ("storm", bench_storm),
        ("baseline_a", bench_baseline_a),
        ("baseline_b", bench_baseline_b),
    ):
        if only and key not in only:
            continue
        results[key] = {}
        t = time.perf_counter()
        try:
            await func(plan, results[key])
        except Exception as exc:
            traceback.print_exc()
            results[key]["error"] = _reason(exc)
            log(f"{key} failed: {_reason(exc)}")
        results[key]["seconds"] = round(time.perf_counter() - t, 1)
    if not only or "routing" in only:
        t = time.perf_counter()
        try:
            results["routing"] = await routing.run(quick, log)
        except Exception as exc:
            traceback.print_exc()
            results["routing"] = {"error": _reason(exc)}
        results["routing"]["step_seconds"] = round(time.perf_counter() - t, 1)
    if not only:
        await bench_soak_and_idle(plan, quick, results)
    if only and "idle" in only:
        await bench_idle_alone(plan, results)
    if only and "purge" in only:
        t = time.perf_counter()
        results["purge"] = bench_purge(quick)
        results["purge_seconds"] = round(time.perf_counter() - t, 1)
    results["total_seconds"] = round(time.monotonic() - T0, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 5 minutes")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--only",
        action="append",
        choices=[
            "product",
            "starts",
            "storm",
            "baseline_a",
            "baseline_b",
            "purge",
            "idle",
            "routing",
        ],
        help="measure only this part (repeatable); the report then goes to var/bench/ only",
    )
    args = parser.parse_args()
    results = asyncio.run(amain(args.quick, set(args.only or ())))
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "bench" / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if args.only:
        print(
            json.dumps(
                {k: v for k, v in results.items() if k not in ("machine", "plan")}, default=str
            )[:20000]
        )
        return
    summary = report.summary(results)
    path = report.write(results, summary, args.output)
    log(f"wrote {path}")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
