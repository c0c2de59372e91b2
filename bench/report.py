"""docs/benchmarks.md and the JSON summary line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Functions that only wait (the event loop's poll, a worker's idle queue) are not cost.
WAITS = ("poll", "select", "acquire", "wait", "_worker", "sleep", "get")

BUCKETS = [
    ("PostgreSQL driver (psycopg)", ("psycopg",)),
    ("Django ORM / db backend", ("django/db",)),
    ("Django other (settings, signals, utils, cache)", ("django/",)),
    ("channels-redis layer", ("channels_redis",)),
    ("redis-py (sync cache client + async layer)", ("redis/",)),
    ("Channels consumers/routing", ("channels/",)),
    ("asgiref thread hops (sync_to_async)", ("asgiref",)),
    ("Daphne / Twisted / Autobahn websocket", ("twisted", "autobahn", "daphne", "txaio")),
    ("asyncio machinery", ("asyncio",)),
    ("concurrent.futures / threading", ("concurrent", "threading")),
    ("json", ("json",)),
    ("product code (realtime/, chat/, agents/)", ("/realtime/", "/chat/", "/agents/")),
    ("ua-parser", ("ua_parser",)),
]

#: The product's own packages, whose functions the profile lists by name.
PRODUCT_PACKAGES = ("realtime/", "chat/", "agents/", "feedback/")

COUNTED = [
    ("thread hops (executor work items)", "concurrent/futures/thread.py", "run"),
    ("SQL statements (psycopg execute)", "psycopg/cursor.py", "execute"),
    ("other PostgreSQL commands (BEGIN, COMMIT)", "psycopg/_connection_base.py", "_exec_command"),
    ("explicit COMMITs (atomic blocks)", "django/db/backends/base/base.py", "_commit"),
    ("savepoints", "django/db/backends/base/base.py", "_savepoint"),
    ("close_old_connections", "django/db/__init__.py", "close_old_connections"),
    ("health checks (SELECT 1)", "django/db/backends/postgresql/base.py", "is_usable"),
    ("on_commit callbacks", "django/db/backends/base/base.py", "on_commit"),
    ("redis commands, sync client (cache)", "redis/client.py", "execute_command"),
    # cProfile counts every resumption of a coroutine as a call, so async functions are
    # counted through the plain functions they call.
    ("redis PUBLISH (channel layer group_send)", "redis/commands/core.py", "publish"),
    ("websocket frames sent (Daphne)", "daphne/ws_protocol.py", "handle_reply"),
    ("json.dumps", "json/__init__.py", "dumps"),
    ("json.loads", "json/__init__.py", "loads"),
    ("cache.add/incr (per-IP limits)", "django/core/cache/backends/redis.py", "incr"),
]


def profile_summary(
    stats, step: dict[str, Any], conversations: int = 0, units: int | None = None
) -> dict[str, Any]:
    """Where the product's message path spends its time, from one cProfile run.

    Figures are per stored message, or per `units` when given (e.g. chats started)."""
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append((filename, line, func, nc, tt, ct))
    # Normalise by the messages the server actually stored while profiling.
    stored = sum(
        r[3] for r in rows if r[0].endswith("chat/services.py") and r[2] == "_message_write"
    )
    messages = units or max(stored or step["sent"], 1)
    busy = [r for r in rows if not (r[2].startswith(WAITS) or "{method 'poll'" in r[2])]
    busy = [r for r in busy if not any(w in r[2] for w in ("epoll", "select.", "acquire"))]
    total = sum(r[4] for r in busy) or 1e-9
    buckets: dict[str, float] = {}
    for filename, _line, func, _nc, tt, _ct in busy:
        where = filename if filename != "~" else func
        label = "other (builtins, stdlib)"
        for name, needles in BUCKETS:
            if any(n in where for n in needles):
                label = name
                break
        buckets[label] = buckets.get(label, 0) + tt
    top = sorted(busy, key=lambda r: r[4], reverse=True)[:25]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    own = [r for r in rows if r[0].startswith(tuple(root + p for p in PRODUCT_PACKAGES))]
    own = sorted(own, key=lambda r: r[5], reverse=True)[:12]
    counts = []
    for label, file_part, func in COUNTED:
        # max, not sum: a wrapper and the method it wraps often share a name.
        n = max((r[3] for r in rows if file_part in r[0] and r[2] == func), default=0)
        counts.append({"what": label, "per_message": round(n / messages, 2)})
    return {
        "messages": messages,
        "sent": step["sent"],
        "conversations": conversations,
        "delivered": step["delivered"],
        "p99_ms": step["p99_ms"],
        "rate": step["rate"],
        "profiled_busy_ms_per_message": round(total * 1000 / messages, 2),
        "buckets": [
            {
                "what": k,
                "ms_per_message": round(v * 1000 / messages, 3),
                "share": round(v / total, 2),
            }
            for k, v in sorted(buckets.items(), key=lambda kv: kv[1], reverse=True)
        ],
        "top": [
            {
                "function": f"{_short(r[0])}:{r[1]}({r[2]})",
                "calls_per_message": round(r[3] / messages, 2),
                "own_ms_per_message": round(r[4] * 1000 / messages, 3),
                "cum_ms_per_message": round(r[5] * 1000 / messages, 3),
            }
            for r in top
        ],
        "counts": counts,
        # The product's own functions by the time spent under them (callees included).
        "product": [
            {
                "function": f"{_short(r[0])}:{r[1]}({r[2]})",
                "calls_per_message": round(r[3] / messages, 2),
                "cum_ms_per_message": round(r[5] * 1000 / messages, 3),
            }
            for r in own
        ],
    }


def _short(filename: str) -> str:
    root = str(Path(__file__).resolve().parent.parent) + "/"
    if filename.startswith(root):
        return filename[len(root) :]
    for marker in ("site-packages/", "/lib/python3.11/", "/wt/bench/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _get(d: dict | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _idle_figure(idle: dict[str, Any] | None) -> float | None:
    """RSS per socket, unless too many handshakes failed for the figure to mean anything."""
    if not idle or idle.get("kib_per_socket") is None:
        return None
    if idle.get("failed", 0) > 0.1 * (idle["sockets"] + idle.get("failed", 0)):
        return None
    return idle["kib_per_socket"]


def _idle_mark(idle: dict[str, Any] | None) -> float | None:
    """RSS per socket at the first mark on the way (5,000 in the full run), if it was read."""
    if not idle or idle.get("kib_per_socket") is None or _idle_figure(idle) is None:
        return None
    marks = idle.get("marks") or []
    return marks[0].get("kib_per_socket") if marks else idle["kib_per_socket"]


def summary(r: dict[str, Any]) -> dict[str, Any]:
    p, a, b = r.get("product", {}), r.get("baseline_a", {}), r.get("baseline_b", {})
    sizes = p.get("sizes", {})
    purge = r.get("purge", {})
    out = {
        "max_sustainable_msgs_per_s": _get(p, "single", "max_msgs_per_s"),
        "p99_ms_at_100_msgs_per_s": _get(p, "single", "p99_ms_at_100"),
        "baseline_a_max_msgs_per_s": _get(a, "single", "max_msgs_per_s"),
        "baseline_b_max_msgs_per_s": _get(b, "single", "max_msgs_per_s"),
        "server_cpu_ms_per_msg": _get(p, "single", "cpu_ms_per_msg"),
        "baseline_a_cpu_ms_per_msg": _get(a, "single", "cpu_ms_per_msg"),
        "baseline_b_cpu_ms_per_msg": _get(b, "single", "cpu_ms_per_msg"),
        "overload_lost": _get(p, "single", "overload", "lost_final"),
        "overload_duplicates": _get(p, "single", "overload", "duplicates_final"),
        "two_process_msgs_per_s": _get(p, "two_process", "max_msgs_per_s"),
        "idle_rss_kib_per_socket": _idle_mark(p.get("idle")),
        "widget_loader_gzip_bytes": _get(sizes, "widget_loader", "gzip_bytes"),
        "widget_panel_gzip_bytes": _get(sizes, "widget_panel", "gzip_bytes"),
        "console_gzip_bytes": _get(sizes, "console", "gzip_bytes"),
        "soak_lost": _get(p, "soak", "lost"),
        "soak_duplicates": _get(p, "soak", "duplicates"),
        "soak_rss_mb_start": _get(p, "soak", "rss_mb_start"),
        "soak_rss_mb_end": _get(p, "soak", "rss_mb_end"),
    }
    st, storm = r.get("starts") or {}, r.get("storm") or {}
    out.update(
        {
            "starts_per_s_max": st.get("starts_per_s_max"),
            "start_p99_ms_at_100": st.get("start_p99_ms_at_100"),
            "server_cpu_ms_per_start": st.get("cpu_ms_per_start_at_100"),
            "storm_resume_s": storm.get("resume_s"),
            "storm_not_resumed": storm.get("not_resumed"),
            "storm_lost": storm.get("lost"),
            "storm_duplicates": storm.get("duplicates"),
            "storm_stored_twice": storm.get("stored_twice"),
            "storm_peak_rss_mb": storm.get("peak_rss_mb"),
            "storm_server_cpu_s": storm.get("new_process_cpu_s"),
            "storm_sockets": storm["visitors"] + storm["consoles"] if "visitors" in storm else None,
            "idle_rss_kib_per_socket_10k": _idle_figure(p.get("idle")),
            "idle_cpu_pct_10k": _get(p, "idle", "idle_cpu_pct"),
            "idle_sockets_10k": _get(p, "idle", "sockets"),
            "baseline_a_idle_rss_kib_per_socket_10k": _idle_figure(a.get("idle")),
            "baseline_b_idle_rss_kib_per_socket_10k": _idle_figure(b.get("idle")),
            "baseline_a_idle_cpu_pct_10k": _get(a, "idle", "idle_cpu_pct"),
            "baseline_b_idle_cpu_pct_10k": _get(b, "idle", "idle_cpu_pct"),
        }
    )
    routed = r.get("routing", {})
    for key in ("routed_offers_per_s", "routing_capacity_violations", "routing_chats_lost"):
        out[key] = routed.get(key)
    for key in (
        "purge_rows_per_s",
        "purge_orm_rows_per_s",
        "purge_single_delete_rows_per_s",
        "purge_longest_transaction_ms",
        "purge_peak_rss_mb",
    ):
        out[key] = purge.get(key)
    return out


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        x = f"{x:,.1f}" if abs(x) >= 10 else f"{x:.2f}"
    return f"{x}{unit}"


def _ratio(x: Any, y: Any) -> str:
    if not x or not y:
        return "—"
    return f"{x / y:.2f}×"


def _steps_table(steps: list[dict[str, Any]], first_col: str = "rate msg/s") -> list[str]:
    lines = [
        f"| {first_col} | sent | p50 ms | p99 ms | p99 v→a | p99 a→v | max ms | lost | dup | "
        "refused | errors | server CPU ms/msg | server CPU % | loadgen CPU % | RSS MB | "
        "load avg | backlog left before | ok |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for s in steps:
        first = s.get("conversations", s["rate"])
        ok = s.get("ok")
        lines.append(
            f"| {first:,.0f} | {s['sent']} | {_fmt(s['p50_ms'])} | {_fmt(s['p99_ms'])} | "
            f"{_fmt(s['p99_v2a_ms'])} | {_fmt(s['p99_a2v_ms'])} | {_fmt(s['max_ms'])} | "
            f"{s['lost']} | {s['duplicates']} | {s['refused']} | "
            f"{', '.join(f'{k}×{v}' for k, v in s['errors'].items()) or '—'} | "
            f"{_fmt(s['server_cpu_ms_per_msg'])} | {_fmt(s['server_cpu_pct'])} | "
            f"{_fmt(s['loadgen_cpu_pct'])} | {_fmt(s['server_rss_mb'])} | "
            f"{_fmt(s.get('loadavg_1m'))} | {_get(s, 'backlog_before', 'after_wait')} | "
            f"{'' if ok is None else ('✓' if ok else '✗')} |"
        )
    return lines


def _system_section(title: str, data: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    lines = [f"### {title}", ""]
    if data.get("error") and not data.get("single"):
        return [*lines, f"Could not run: `{data['error']}`", ""]
    single = data.get("single", {})
    setup = single.get("setup", {})
    lines += [
        f"{setup.get('conversations')} conversations opened through {setup.get('agents')} agent "
        f"sockets in {setup.get('seconds')} s"
        + (f"; setup errors: {setup.get('errors')}" if setup.get("errors") else "")
        + ".",
        "",
        f"**Load points** (1 msg/s per conversation, {plan['point_seconds']} s each):",
        "",
        *_steps_table(single.get("load_points", []), "conversations"),
        "",
        f"**Reference step**, 100 msg/s over {plan['ramp_conversations']} conversations "
        "before the ramp (the p99 and CPU figures of the summary):",
        "",
        *_steps_table([single["reference_100"]] if single.get("reference_100") else []),
        "",
        f"**Ramp** ({plan['ramp_conversations']} conversations, {plan['ramp_seconds']} s per "
        "step, stops at the first step failing p99 < 100 ms / zero loss / zero duplicates / "
        "no refusals):",
        "",
        *_steps_table(single.get("ramp", [])),
        "",
    ]
    ramp = single.get("ramp", [])
    if single.get("load_points_cut"):
        lines += [f"Load points cut short: {single['load_points_cut']}.", ""]
    if single.get("ramp_cut"):
        lines += [f"The ramp was cut short ({single['ramp_cut']}).", ""]
    if ramp and ramp[-1].get("ok"):
        lines += ["The ramp ended without a failing step: the maximum is a lower bound.", ""]
    elif ramp and not any(x.get("ok") for x in ramp):
        lines += [
            f"Not even the lowest step ({ramp[0]['rate']:.0f} msg/s) was sustainable, so the "
            "maximum is reported as null.",
            "",
        ]
    over = single.get("overload")
    if isinstance(over, dict) and "sent" in over:
        lines += [
            f"**Overload** at {over['rate']:.0f} msg/s for {over['seconds']} s: sent "
            f"{over['sent']}, delivered {over['delivered']}, lost {over['lost']}, duplicates "
            f"{over['duplicates']}, refused {over['refused']} (errors {over['errors'] or 'none'}), "
            f"p99 {_fmt(over['p99_ms'])} ms, max {_fmt(over['max_ms'])} ms; backlog drained "
            f"{over['drain_s']} s after sending stopped; socket disconnects {over['disconnects']}; "
            f"server alive: {over['servers_alive']}. Probe afterwards: {over.get('probe_after')}. "
            f"Counting late arrivals until {over.get('waited_after_send_s')} s after the last "
            f"send: {over.get('late_delivered')} more arrived, **finally lost "
            f"{over.get('lost_final')}, duplicates {over.get('duplicates_final')}** (the summary "
            "line's overload figures).",
            "",
        ]
    elif over:
        lines += [f"**Overload**: {over}", ""]
    errs = single.get("server_errors_logged")
    if errs:
        tail = single.get("server_log_tail", "")
        lines += [
            f"The server logged {errs} error/traceback lines; last lines:",
            "",
            "```",
            tail[-1500:],
            "```",
            "",
        ]
    idle = data.get("idle")
    if idle:
        if "error" in idle:
            lines += [f"**Idle sockets**: could not run: `{idle['error']}`", ""]
        else:
            lines += [
                f"**Idle sockets**: {idle['sockets']} open visitor sockets (failed "
                f"{idle['failed']}, not tried within the time limit "
                f"{idle.get('not_tried_time_limit', 0)}, opened in "
                f"{idle['connect_seconds']} s): RSS "
                f"{idle['rss_before_mb']} → {idle['rss_after_mb']} MB = "
                f"**{_fmt(idle['kib_per_socket'])} KiB per socket**; idle CPU "
                f"{idle['idle_cpu_pct']} % over {idle.get('idle_cpu_seconds', 2)} s"
                + (
                    f", every socket pinging every {idle['pinged_every_s']:g} s as the browsers do"
                    if idle.get("pinged_every_s")
                    else ""
                )
                + "."
                + "".join(
                    f" With {m['sockets']} open: {_fmt(m['kib_per_socket'])} KiB per socket."
                    for m in idle.get("marks") or []
                )
                + (
                    " More than 10 % of the handshakes failed, so the figure is not reported "
                    "in the summary line."
                    if idle["kib_per_socket"] is not None and _idle_figure(idle) is None
                    else ""
                ),
                "",
            ]
    return lines


def _profile_tables(prof: dict[str, Any], unit: str) -> list[str]:
    product = [
        f"| `{x['function']}` | {x['calls_per_message']} | {x['cum_ms_per_message']} |"
        for x in prof.get("product", [])
    ]
    return [
        *(
            [
                f"The product's own functions by time under them, per {unit}:",
                "",
                f"| function | calls / {unit} | cumulative ms / {unit} |",
                "|---|---:|---:|",
                *product,
                "",
            ]
            if product
            else []
        ),
        f"| where | ms / {unit} | share |",
        "|---|---:|---:|",
        *[
            f"| {x['what']} | {x['ms_per_message']} | {x['share'] * 100:.0f} % |"
            for x in prof["buckets"]
        ],
        "",
        f"| operation | per {unit} |",
        "|---|---:|",
        *[f"| {x['what']} | {x['per_message']} |" for x in prof["counts"]],
        "",
        f"| function | calls / {unit} | own ms / {unit} | cumulative ms / {unit} |",
        "|---|---:|---:|---:|",
        *[
            f"| `{x['function']}` | {x['calls_per_message']} | {x['own_ms_per_message']} | "
            f"{x['cum_ms_per_message']} |"
            for x in prof["top"]
        ],
        "",
    ]


def _routing_section(routed: dict[str, Any] | None) -> list[str]:
    """The routed-chat step (bench/routing.py)."""
    lines = ["## Routed chats (`CHAT_ROUTING=offer`)", ""]
    if not routed:
        return [*lines, "Not measured.", ""]
    if "error" in routed:
        return [*lines, f"Could not run: `{routed['error']}`", ""]
    return [
        *lines,
        f"Two Daphne processes; {routed['agents']} agents of capacity {routed['capacity']} on "
        f"live console sockets accept every offer and end the chat at once; "
        f"{routed['chats']} visitors start chats in one burst. Each offer waits for an agent's "
        "place to free: the figure is the whole loop (offer, accept, end, next offer), not the "
        "routing decision alone.",
        "",
        "| offers | seconds | offers/s | agent ever over capacity | chats lost | goal |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {routed['offers']} | {_fmt(routed['seconds'])} | "
        f"{_fmt(routed['routed_offers_per_s'])} | {routed['routing_capacity_violations']} | "
        f"{routed['routing_chats_lost']} | 0 over capacity, 0 lost |",
        "",
    ]


def _starts_table(steps: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| starts/s | visitors | started | p50 ms | p99 ms | max ms | shed | lost | errors | "
        "server CPU ms/start | server CPU % | loadgen CPU % | RSS MB | load avg | ok |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|:-:|",
    ]
    for x in steps:
        errors = ", ".join(f"{k}×{v}" for k, v in x["errors"].items()) or "—"
        lines.append(
            f"| {x['rate']:,.0f} | {x['visitors']} | {x['started']} | {_fmt(x['p50_ms'])} | "
            f"{_fmt(x['p99_ms'])} | {_fmt(x['max_ms'])} | {x['shed']} | {x['lost']} | "
            f"{errors} | {_fmt(x.get('server_cpu_ms_per_start'))} | "
            f"{_fmt(x.get('server_cpu_pct'))} | {_fmt(x.get('loadgen_cpu_pct'))} | "
            f"{_fmt(x.get('server_rss_mb'))} | {_fmt(x.get('loadavg_1m'))} | "
            f"{'✓' if x.get('ok') else '✗'} |"
        )
    return lines


def _starts_section(st: dict[str, Any]) -> list[str]:
    lines = ["### Product, new chats a second", ""]
    if not st:
        return [*lines, "Not measured.", ""]
    if "reference_100" not in st:
        return [*lines, f"Could not run: `{st.get('error', 'no result')}`", ""]
    lines += [
        "New visitors arrive at a fixed rate, each on its own socket: `hello` (language, "
        "screen), then on `welcome` `conversation.start` with its first message, page and "
        f"language, as the panel does; {st['agents']} consoles are online and get every new "
        "chat in their queue (nobody claims them). Latency is from sending "
        "`conversation.start` to `conversation.started`; *shed* is a start refused as "
        "`overloaded` (the panel resends it later), *lost* one without an answer 5 s after "
        "the step. A step passes with p99 < 250 ms, nothing shed, lost or refused. The "
        "reference step at 100 starts/s runs first; the ramp stops at its first failing step "
        "(one failing on latency alone runs once more). The baselines have no chat start, so "
        "this is the product's alone.",
        "",
        "**Reference step** (the summary's p99 and CPU per start):",
        "",
        *_starts_table([st["reference_100"]]),
        "",
        "**Ramp**:",
        "",
        *_starts_table(st.get("ramp", [])),
        "",
    ]
    ramp = st.get("ramp", [])
    if st.get("ramp_cut"):
        lines += [f"The ramp was cut short ({st['ramp_cut']}).", ""]
    if ramp and ramp[-1].get("ok"):
        lines += ["The ramp ended without a failing step: the maximum is a lower bound.", ""]
    elif ramp and not any(x.get("ok") for x in ramp):
        lines += [
            f"Not even the lowest step ({ramp[0]['rate']:.0f} starts/s) passed, so the "
            "maximum is reported as null.",
            "",
        ]
    if st.get("server_errors_logged"):
        lines += [f"The server logged {st['server_errors_logged']} error lines.", ""]
    return lines


def _storm_section(sm: dict[str, Any]) -> list[str]:
    lines = ["### Product, reconnect storm (a rolling restart)", ""]
    if not sm:
        return [*lines, "Not measured.", ""]
    if "sent" not in sm:
        return [*lines, f"Could not run: `{sm.get('error', 'no result')}`", ""]
    setup = sm.get("setup", {})
    sockets = sm["visitors"] + sm["consoles"]
    lines += [
        f"{sm['visitors']} visitors with active chats (each started and claimed through the "
        f"real protocol; set-up {setup.get('seconds')} s"
        + (f", errors {setup['errors']}" if setup.get("errors") else "")
        + f") and {sm['consoles']} console sockets on one Daphne process; numbered messages at "
        f"{sm['rate']:g} msg/s in total, visitors and consoles in turn, from 2 s before the "
        "restart until 1 s after every client has caught up. The process gets SIGTERM and a "
        "new one is started on the same port as soon as the old one has stopped listening, "
        "as a process manager does. Every client reconnects as the browsers do "
        "(`bench/backoff.py`, which reads `static/shared/socket.js`): after the `restart` "
        "frame's `retry_after_ms`, then with backoff and full jitter while the port refuses; "
        "it says `hello` with its last message id (the visitor with its token), follows the "
        "catch-up's pages, then resends what was not acknowledged. *Resumed* is that "
        "catch-up done; *lost* a numbered message the other side never received (live or in "
        f"a catch-up) within {sm.get('drain_s', 20):g} s after sending stopped; a *duplicate* "
        "one received under a "
        "second message id. The baselines have no resume, so this is the product's alone.",
        "",
        "| | |",
        "|---|---|",
        f"| new process listening after SIGTERM | {_fmt(sm.get('new_process_listening_s'))} s |",
        f"| all resumed after SIGTERM (p50) | **{_fmt(sm.get('resume_s'))} s** "
        f"({_fmt(sm.get('resume_p50_s'))} s); not resumed within the limit: "
        f"{sm.get('not_resumed')} |",
        *(
            f"| {label} after SIGTERM, quartiles and last (s) | "
            f"{' / '.join(_fmt(x) for x in sm[key])} |"
            for label, key in (
                ("socket open (handshake done)", "opened_s_quartiles"),
                ("`welcome` received", "welcomed_s_quartiles"),
            )
            if sm.get(key)
        ),
        *(
            [
                f"| the new process's CPU from listening until all resumed | "
                f"{_fmt(sm['new_process_cpu_s'])} s "
                f"({_fmt(sm['new_process_cpu_s'] * 1000 / sockets)} ms per socket) |"
            ]
            if sm.get("new_process_cpu_s") is not None and sockets
            else []
        ),
        f"| numbered messages sent / delivered | {sm['sent']} / {sm['delivered']} |",
        f"| lost / duplicates / stored twice (database) | **{sm['lost']} / {sm['duplicates']}"
        f"** / {_fmt(sm.get('stored_twice'))} |",
        f"| received again under the same id (dropped by id) | {sm['received_again_same_id']} |",
        f"| not acknowledged at the end | {sm['unsent_at_end']} |",
        f"| restart frames / close codes / refused connects | {sm['restart_frames']} / "
        f"{sm['close_codes']} / {sm['refused_connects']} |",
        f"| refusals (resent) and errors | {sm['errors'] or 'none'} |",
        f"| RSS before; peak of the old and of the new process (MB) | {sm.get('rss_mb_before')};"
        f" {sm['peak_rss_mb_old']} and {sm['peak_rss_mb_new']} |",
        f"| old process exit code | {sm.get('old_process_exit_code')} |",
        f"| load generator CPU % until all resumed (all clients are one process) | "
        f"{_fmt(sm.get('loadgen_cpu_pct'))} |",
        "",
    ]
    if sm.get("not_resumed_sample"):
        lines += [f"Clients that had not resumed: `{sm['not_resumed_sample']}`.", ""]
    if sm.get("server_errors_logged"):
        lines += [
            f"The servers logged {sm['server_errors_logged']} error lines; the old process's "
            "last lines:",
            "",
            "```",
            str(sm.get("old_server_log_tail", ""))[-1500:],
            "```",
            "",
        ]
    if sm.get("lost"):
        lines += [f"Some lost messages (client id, chat, sender): `{sm.get('lost_sample')}`.", ""]
    return lines


#: Summary keys where a larger figure is the better one (the others: smaller is better, or
#: neither, e.g. counts of sockets).
HIGHER_IS_BETTER = {
    "max_sustainable_msgs_per_s",
    "two_process_msgs_per_s",
    "starts_per_s_max",
    "routed_offers_per_s",
    "purge_rows_per_s",
    "purge_orm_rows_per_s",
    "purge_single_delete_rows_per_s",
}
#: Keys that describe the run rather than measure the product.
NOT_COMPARED = {"idle_sockets_10k", "storm_sockets"}

_PREVIOUS = re.compile(
    r"^Generated by .*? on (?P<date>[^;]+);.*?^## Summary line\s*```json\n(?P<json>.*?)\n```",
    re.S | re.M,
)


def previous_summary(text: str) -> tuple[str, dict[str, Any]] | None:
    """(date, summary line) of the report `text` (an earlier docs/benchmarks.md), or None."""
    found = _PREVIOUS.search(text)
    if found is None:
        return None
    try:
        summary = json.loads(found.group("json"))
    except ValueError:
        return None
    return (found.group("date").strip(), summary) if isinstance(summary, dict) else None


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def compare_section(previous: tuple[str, dict[str, Any]] | None, s: dict[str, Any]) -> list[str]:
    """Every figure of this run's summary line beside the previous run's (the report this one
    replaces), with the change and whether it is better or worse."""
    lines = ["## Against the previous run", ""]
    if previous is None:
        return [*lines, "No earlier report with a summary line to compare with.", ""]
    date, before = previous
    lines += [
        f"The previous report ({date}), whose summary line this run's replaces. Same machine "
        "unless its Machine section said otherwise; loopback knees are noisy (±30 %), so a "
        "change inside that is not a finding.",
        "",
        "| key | previous | this run | change |",
        "|---|---:|---:|---|",
    ]
    for key, now in s.items():
        if key in NOT_COMPARED:
            continue
        old = before.get(key)
        a, b = _number(old), _number(now)
        if a is None or b is None:
            change = "" if old == now else "not comparable"
        elif a == b:
            change = "same"
        else:
            pct = f" ({(b - a) / a * 100:+.0f} %)" if a else ""
            if key.startswith("baseline_"):
                # A reference, not the product: its change says how the machine measured.
                change = ("higher" if b > a else "lower") + pct + ", a baseline"
            else:
                better = (b > a) == (key in HIGHER_IS_BETTER)
                change = ("better" if better else "worse") + pct
        lines.append(f"| `{key}` | {_fmt(old)} | {_fmt(now)} | {change} |")
    return [*lines, ""]


def write(r: dict[str, Any], s: dict[str, Any], output: str) -> Path:
    from .findings import findings

    path = Path(output)
    previous = previous_summary(path.read_text()) if path.exists() else None

    m = r["machine"]
    plan = r["plan"]
    p, a, b = r.get("product", {}), r.get("baseline_a", {}), r.get("baseline_b", {})
    pmax = s["max_sustainable_msgs_per_s"]
    L: list[str] = [
        "# Benchmarks",
        "",
        "Generated by `make bench" + (" QUICK=1" if r["quick"] else "") + "` "
        f"(`python -m bench{' --quick' if r['quick'] else ''}`) on {r['date']}; "
        f"total {r['total_seconds']} s. Do not edit by hand: rerun it.",
        "",
        "Everything runs on loopback on one machine: the load generator (one asyncio process, "
        "send and receive timed in-process), the servers, PostgreSQL and Redis share the cores, "
        "so knees are noisy (±30 %). Server CPU is the server processes' own user+system time "
        "(psutil, by PID) divided by the messages sent; PostgreSQL's and Redis's CPU is not "
        "included. A message is *lost* if the other side had not received `message.new` for it "
        "when the step's drain window ended (see the step's drain time) and it was not refused "
        "(it may be stored and arrive later); before each step the generator waits a bounded "
        "time for the previous step's backlog; *sustainable* means p99 < 100 ms, no loss, "
        "no duplicates, no refusals, and the generator kept the rate.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}",
        f"- Memory: {m['memory']}; load average at start {m['load']}",
        f"- {m['os']}, Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}",
        f"- {m['versions']}",
        f"- Raw PostgreSQL INSERT + COMMIT from Python right before the run: "
        f"{r.get('commit_probe')} (every persisted message waits for one such commit)",
        "",
        "```",
        m.get("free", ""),
        "```",
        "",
        "## Summary",
        "",
        "| | product | baseline A (plain Channels) | baseline B (bare asyncio) | goal |",
        "|---|---:|---:|---:|---|",
        f"| max sustainable msg/s, one process | {_fmt(s['max_sustainable_msgs_per_s'])} | "
        f"{_fmt(s['baseline_a_max_msgs_per_s'])} | {_fmt(s['baseline_b_max_msgs_per_s'])} | "
        "≥ 500; ≥ 5× A; ≥ 0.5× B |",
        f"| ratio product / baseline | | {_ratio(pmax, s['baseline_a_max_msgs_per_s'])} "
        f"| {_ratio(pmax, s['baseline_b_max_msgs_per_s'])} | |",
        f"| server CPU ms per message (at 100 msg/s) | {_fmt(s['server_cpu_ms_per_msg'])} | "
        f"{_fmt(s['baseline_a_cpu_ms_per_msg'])} | {_fmt(s['baseline_b_cpu_ms_per_msg'])} | "
        "≤ 1.5; ≤ 2× B |",
        f"| p99 ms at 100 msg/s | {_fmt(s['p99_ms_at_100_msgs_per_s'])} | "
        f"{_fmt(_get(a, 'single', 'p99_ms_at_100'))} | {_fmt(_get(b, 'single', 'p99_ms_at_100'))} "
        "| < 20 |",
        f"| overload (2× max): lost / duplicates | {_fmt(s['overload_lost'])} / "
        f"{_fmt(s['overload_duplicates'])} | {_fmt(_get(a, 'single', 'overload', 'lost_final'))} / "
        f"{_fmt(_get(a, 'single', 'overload', 'duplicates_final'))} | "
        f"{_fmt(_get(b, 'single', 'overload', 'lost_final'))} / "
        f"{_fmt(_get(b, 'single', 'overload', 'duplicates_final'))} | 0 / 0 |",
        f"| two processes, combined msg/s | {_fmt(s['two_process_msgs_per_s'])} | | | report |",
        f"| idle socket RSS KiB, {_fmt(plan.get('idle_mark'))} open "
        f"| {_fmt(s['idle_rss_kib_per_socket'])} | "
        f"{_fmt(_idle_mark(a.get('idle')))} | {_fmt(_idle_mark(b.get('idle')))} | ≤ 40 |",
        f"| idle socket RSS KiB, {_fmt(s['idle_sockets_10k'])} open "
        f"| {_fmt(s['idle_rss_kib_per_socket_10k'])} | "
        f"{_fmt(s['baseline_a_idle_rss_kib_per_socket_10k'])} | "
        f"{_fmt(s['baseline_b_idle_rss_kib_per_socket_10k'])} | ≤ 30 (10,000 open) |",
        f"| idle CPU %, {_fmt(s['idle_sockets_10k'])} open (pinging as browsers do) "
        f"| {_fmt(s['idle_cpu_pct_10k'])} | {_fmt(s['baseline_a_idle_cpu_pct_10k'])} | "
        f"{_fmt(s['baseline_b_idle_cpu_pct_10k'])} | < 2 |",
        f"| new chats a second sustained, one process | {_fmt(s['starts_per_s_max'])} | | | "
        "≥ 200 (p99 < 250 ms, none shed) |",
        f"| p99 ms hello → conversation.started, at 100 starts/s | "
        f"{_fmt(s['start_p99_ms_at_100'])} | | | < 250 |",
        f"| server CPU ms per start (at 100 starts/s) | {_fmt(s['server_cpu_ms_per_start'])} "
        "| | | report |",
        f"| reconnect storm, {_fmt(s['storm_sockets'])} sockets: all resumed within s | "
        f"{_fmt(s['storm_resume_s'])} | | | ≤ 20 |",
        f"| reconnect storm: lost / duplicates | {_fmt(s['storm_lost'])} / "
        f"{_fmt(s['storm_duplicates'])} | | | 0 / 0 |",
        f"| reconnect storm: server peak RSS MB | {_fmt(s['storm_peak_rss_mb'])} | | | report |",
        f"| widget loader gzip bytes | {_fmt(s['widget_loader_gzip_bytes'])} | | | ≤ 2,048 |",
        f"| visitor panel, everything, gzip bytes | {_fmt(s['widget_panel_gzip_bytes'])} | | | "
        "≤ 15,360 |",
        f"| console first load gzip bytes | {_fmt(s['console_gzip_bytes'])} | | | ≤ 61,440 |",
        "",
        "Summary line keys that are `null` could not be measured; the reason is in the section "
        "below.",
        "",
        *compare_section(previous, s),
        "## Findings",
        "",
        *findings(r, s),
        "",
        "## Systems",
        "",
        "- **product**: Daphne running `helao_chat.asgi:application` in production mode "
        "(DEBUG off, static files collected; rate limits raised by environment so that they do "
        "not refuse the generator), PostgreSQL database "
        "`helao_bench` (kept between runs, migrated, `seed_demo`), channels-redis pub/sub "
        "layer with prefix `helao-bench`. Real protocol: visitors `conversation.start`, "
        "agents (logged in through `/console/login/`, `presence.set` online, refreshed every "
        "30 s) "
        "`conversation.claim`, then both `message.send`.",
        "- **baseline A** (`bench/baseline_a/`): one `AsyncJsonWebsocketConsumer` per side, "
        "`database_sync_to_async(Message.objects.create)`, then `group_send` on "
        "`channels_redis.core.RedisChannelLayer`; Daphne; database `helao_bench_a`; "
        "CONN_MAX_AGE=60.",
        "- **baseline B** (`bench/baseline_b.py`): `websockets` server, psycopg async pool "
        "(insert + commit), then `PUBLISH` on Redis; one pattern subscription per process fans "
        "out to local sockets; database `helao_bench_b`.",
        "",
        "## Details",
        "",
        *_system_section("Product", p, plan),
    ]
    two = p.get("two_process")
    if two:
        L += ["### Product, two Daphne processes", ""]
        if "error" in two:
            L += [f"Could not run: `{two['error']}`", ""]
        else:
            L += [
                "Visitors and agent sockets alternate between the two processes, so most "
                "messages cross processes through Redis. The ramp starts at the single "
                "process's maximum and steps down if that fails: on two cores shared with the "
                "load generator, PostgreSQL and Redis, one process near its own maximum already "
                "leaves no core free, so a second process adds cross-process traffic, not "
                "capacity; on a machine with cores to spare it would add capacity.",
                "",
                *_steps_table(two["steps"]),
                "",
            ]
    soak = p.get("soak")
    if soak:
        L += ["### Soak", ""]
        if "error" in soak:
            L += [f"Could not run: `{soak['error']}`", ""]
        else:
            L += [
                f"{soak['visitors']} visitors and {soak['agents']} agents on one Daphne process "
                f"for {soak['seconds']:.0f} s at {soak['rate']} msg/s in total: sent "
                f"{soak['sent']}, delivered {soak['delivered']}, lost **{soak['lost']}**, "
                f"duplicated **{soak['duplicates']}**, refused {soak['refused']}, error rate "
                f"{soak['error_rate']}; worst 30-s step p99 {_fmt(soak['worst_step_p99_ms'])} ms.",
                "",
                "The idle-socket test (on a second Daphne process, opened from a separate "
                "process) and the retention purge benchmark (in the same PostgreSQL server) ran "
                "while the soak was under way: the soak shows live chat during a purge, as "
                "production has it, and fits the whole run into its time budget.",
                "",
                "| | start | end |",
                "|---|---|---|",
                f"| RSS MB | {soak['rss_mb_start']} | {soak['rss_mb_end']} |",
                f"| open file descriptors | {soak['fds_start']} | {soak['fds_end']} |",
                "",
                "Samples (RSS MB / fds): "
                + ", ".join(f"{x['rss_mb']}/{x['fds']}" for x in soak["samples"]),
                "",
            ]
    launcher = _get(p, "idle", "launcher")
    if launcher:
        L += [
            "**Launcher cost**: the host page's launcher opens no socket; a page view costs one "
            "GET of `/widget.js` (cacheable): "
            + (
                f"{launcher['cpu_ms_per_load']} ms server CPU per uncached load."
                if launcher.get("cpu_ms_per_load") is not None
                else f"not measured ({launcher.get('reason')})."
            ),
            "",
        ]
    L += ["### Page weight (gzip -9 per file, summed)", ""]
    for key, title in (
        ("widget_loader", "Widget loader `/widget.js`"),
        ("widget_panel", "Visitor panel `/widget/panel/` and everything it loads"),
        ("console", "Console first load `/console/` after login"),
    ):
        item = _get(p, "sizes", key) or {}
        if item.get("gzip_bytes") is None:
            reason = item.get("reason") or _get(p, "sizes", "error") or "not measured"
            L.append(f"- {title}: **not measured** — {reason}.")
        else:
            files = ", ".join(f"`{f}` {n} B" for f, n in item.get("files", {}).items())
            miss = f"; missing: {', '.join(item['missing'])}" if item.get("missing") else ""
            L.append(f"- {title}: **{item['gzip_bytes']:,} B** ({files}{miss})")
    L += ["", *_starts_section(r.get("starts") or {})]
    L += [*_storm_section(r.get("storm") or {})]
    L += [*_system_section("Baseline A: plain Channels", a, plan)]
    L += [*_system_section("Baseline B: bare asyncio", b, plan)]
    prof = p.get("profile")
    L += ["## Profile of the product's message path", ""]
    if not prof or "error" in prof:
        L += [f"Not measured: {prof.get('error') if prof else 'skipped'}", ""]
    else:
        L += [
            f"cProfile on the event loop thread and on every executor thread of one Daphne "
            f"process (`bench/profile_server.py`), {prof['messages']} messages at "
            f"{prof['rate']:.0f} msg/s over {prof.get('conversations') or '?'} conversations (p99 "
            f"{prof['p99_ms']} ms under the profiler), only while the load ran (SIGUSR1/SIGUSR2). "
            f"Time inside functions per stored message, idle waits (epoll, locks, queues) "
            f"excluded: **{prof['profiled_busy_ms_per_message']} ms**. This is wall time: it "
            "includes profiler overhead and the time a thread waited for a CPU on a busy "
            "machine, so the shares and the counts matter, not the sum.",
            "",
            "| where | ms / message | share |",
            "|---|---:|---:|",
            *[
                f"| {x['what']} | {x['ms_per_message']} | {x['share'] * 100:.0f} % |"
                for x in prof["buckets"]
            ],
            "",
            "Counts per stored message (async functions are counted through the plain functions "
            "they call: cProfile counts every resumption of a coroutine as a call):",
            "",
            "| operation | per message |",
            "|---|---:|",
            *[f"| {x['what']} | {x['per_message']} |" for x in prof["counts"]],
            "",
            "Top functions by own time:",
            "",
            "| function | calls / msg | own ms / msg | cumulative ms / msg |",
            "|---|---:|---:|---:|",
            *[
                f"| `{x['function']}` | {x['calls_per_message']} | {x['own_ms_per_message']} | "
                f"{x['cum_ms_per_message']} |"
                for x in prof["top"]
            ],
            "",
        ]
    sprof = _get(r, "starts", "profile")
    L += ["## Profile of the product's start path", ""]
    if not sprof or "error" in sprof:
        L += [f"Not measured: {sprof.get('error') if sprof else 'skipped'}", ""]
    else:
        L += [
            f"The same profiler, {sprof['messages']} chats started at {sprof['rate']:.0f} a "
            f"second (hello → conversation.start, p99 {sprof['p99_ms']} ms under the profiler). "
            f"Time inside functions per start, idle waits excluded: "
            f"**{sprof['profiled_busy_ms_per_message']} ms** (wall time, as above).",
            "",
            *_profile_tables(sprof, "start"),
        ]
    L += _routing_section(r.get("routing"))
    purge = r.get("purge", {})
    L += ["## Retention purge", "", purge.get("markdown") or "Not measured.", ""]
    if purge.get("during_soak"):
        L += [
            "Measured while the soak (above) kept chatting on the same PostgreSQL server, for "
            "all three methods alike.",
            "",
        ]
    L += [
        "## Summary line",
        "",
        "```json",
        json.dumps(s, indent=1),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L))
    return path
