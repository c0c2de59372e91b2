"""The findings section: goals checked against this run's numbers, and what the profile shows."""

from __future__ import annotations

from typing import Any


def _goal(label: str, value: Any, ok: bool | None) -> str:
    mark = "not measured" if ok is None else ("met" if ok else "**not met**")
    return f"- {label}: {value if value is not None else '—'} → {mark}"


def findings(r: dict[str, Any], s: dict[str, Any]) -> list[str]:
    p_max = s["max_sustainable_msgs_per_s"]
    a_max = s["baseline_a_max_msgs_per_s"]
    b_max = s["baseline_b_max_msgs_per_s"]
    cpu, b_cpu = s["server_cpu_ms_per_msg"], s["baseline_b_cpu_ms_per_msg"]

    def cmp(x, f):
        return None if x is None else f(x)

    lines = [
        "Goals from the performance issue, against this run:",
        "",
        _goal("≥ 500 msg/s sustained per process", p_max, cmp(p_max, lambda x: x >= 500)),
        _goal(
            "≥ 5× baseline A",
            f"{p_max / a_max:.2f}×" if p_max and a_max else None,
            None if not (p_max and a_max) else p_max >= 5 * a_max,
        ),
        _goal(
            "≥ 0.5× baseline B",
            f"{p_max / b_max:.2f}×" if p_max and b_max else None,
            None if not (p_max and b_max) else p_max >= 0.5 * b_max,
        ),
        _goal(
            "p99 < 20 ms at 100 msg/s",
            s["p99_ms_at_100_msgs_per_s"],
            cmp(s["p99_ms_at_100_msgs_per_s"], lambda x: x < 20),
        ),
        _goal("≤ 1.5 ms server CPU per message", cpu, cmp(cpu, lambda x: x <= 1.5)),
        _goal(
            "CPU per message ≤ 2× baseline B",
            f"{cpu / b_cpu:.2f}×" if cpu and b_cpu else None,
            None if not (cpu and b_cpu) else cpu <= 2 * b_cpu,
        ),
        _goal(
            "overload: zero lost, zero duplicates",
            f"{s['overload_lost']} / {s['overload_duplicates']}",
            None
            if s["overload_lost"] is None
            else s["overload_lost"] == 0 and s["overload_duplicates"] == 0,
        ),
        _goal(
            "idle socket ≤ 40 KiB RSS",
            s["idle_rss_kib_per_socket"],
            cmp(s["idle_rss_kib_per_socket"], lambda x: x <= 40),
        ),
        _goal(
            "widget loader ≤ 2 KiB gzip",
            s["widget_loader_gzip_bytes"],
            cmp(s["widget_loader_gzip_bytes"], lambda x: x <= 2048),
        ),
        _goal(
            "visitor panel ≤ 15 KiB gzip",
            s["widget_panel_gzip_bytes"],
            cmp(s["widget_panel_gzip_bytes"], lambda x: x <= 15 * 1024),
        ),
        _goal(
            "console first load ≤ 60 KiB gzip",
            s["console_gzip_bytes"],
            cmp(s["console_gzip_bytes"], lambda x: x <= 60 * 1024),
        ),
        "",
        *profile_findings(r),
    ]
    return lines


def _count(r: dict[str, Any], what: str) -> str:
    prof = (r.get("product") or {}).get("profile") or {}
    for item in prof.get("counts", []):
        if item["what"].startswith(what):
            return f"{item['per_message']:g}"
    return "?"


def profile_findings(r: dict[str, Any]) -> list[str]:
    """What the profile and the code show, with a proposal each; counts come from this run."""
    probe = r.get("commit_probe") or {}
    commit = probe.get("median_ms", "?")
    hops = _count(r, "thread hops")
    sql = _count(r, "SQL statements")
    commands = _count(r, "other PostgreSQL commands")
    checks = _count(r, "health checks")
    closes = _count(r, "close_old_connections")
    frames = _count(r, "websocket frames")
    sync_redis = _count(r, "redis commands, sync")
    return [
        "What the message path costs, and what is still to change (counts are per stored "
        "message from the profile below):",
        "",
        f"1. **Thread hops (applied).** Units of work run on `CHAT_DB_THREADS` threads with their "
        f"own connections instead of Channels' single sync thread, so commits overlap: "
        f"{hops} thread hops per message. A raw INSERT+COMMIT takes {commit} ms here "
        f"(`synchronous_commit={probe.get('synchronous_commit', '?')}`).",
        f"2. **Hop before every handler (applied).** `JsonFrameConsumer.dispatch` no longer "
        f"awaits Channels' `aclose_old_connections()` before each frame and event; the "
        f"{closes} `close_old_connections` per message left are the units' own, in their "
        "threads.",
        f"3. **Round trips per message (partly applied).** The insert is one `INSERT … ON "
        f"CONFLICT DO NOTHING RETURNING id` committed together with the activity update (one "
        f"commit per message, no pre-read, no savepoint). Still {sql} SQL statements "
        f"({checks} of them the `SELECT 1` of `CONN_HEALTH_CHECKS`) and {commands} other "
        "commands per message: the conversation is still loaded before the write. *Proposal*: "
        "fold the status check and the activity update into the insert (a CTE) and drop health "
        "checks on the websocket path.",
        "4. **Group commit.** With commits this slow, ≥ 500 msg/s per process needs several "
        "messages per commit: an in-process writer that collects the messages arriving within "
        "~1–2 ms (or while the previous batch commits), writes them in one multi-row INSERT in "
        "one transaction, then acknowledges and publishes each one. Persist-before-broadcast "
        "and idempotency (`ON CONFLICT`) are kept; the latency cost is at most one batch window.",
        f"5. **Per-IP message limit in the shared cache.** Checked inside the write's thread hop "
        f"now, but still {sync_redis} sync Redis commands per stored message on average "
        "(`cache.add` = SET NX, then `cache.incr` = EXISTS + INCRBY), and Django's Redis cache "
        "builds a new redis-py client object for each. *Proposal*: the redis.asyncio client on the "
        "event loop (one pipelined `INCR`+`EXPIRE`), or a local token bucket per address that "
        "is reconciled with Redis every second.",
        f"6. **Fan-out and frames.** Each stored message sends {frames} websocket frames "
        "(`message.ack` to the sender, `message.new` to both sides, the sender's being an echo it "
        "already knows from the ack). The echo is needed for other tabs of the same agent; the "
        "visitor side could skip `message.new` for its own message once it has the ack. "
        "`AgentConsumer.wants()` joins *every* tab of the assigned agent on "
        "`conversation.claimed`, so an agent with N console tabs receives each message N times "
        "— intended, but it multiplies fan-out. While a conversation waits, each message is "
        "published twice (conversation group and `agents` queue group).",
        "7. **Idle sockets.** A visitor socket costs a thread hop at connect "
        "(`ip_connection_acquire`, 3 Redis commands) and one at disconnect; under load, "
        "connects queue behind database writes on the single thread (failures in the idle "
        "test below are handshakes that did not finish within 20 s). The same async-limits "
        "change as in 5 removes this; the RSS per socket is only meaningful when all sockets "
        "opened.",
        "8. **Conversation set-up** (`conversation.start` + `conversation.claim`) is just as "
        "bound by the single thread: the product opened its conversations several times slower "
        "than baseline A (see the set-up times); `conversation.start` also parses the user "
        "agent with ua-parser and broadcasts `queue.added` to every agent socket.",
        "",
        "Findings 1 and 2 were also tried by patching them in at launch (`python -m "
        "bench.experiment`, section below when it has been run); on a machine as busy as this "
        "one the comparison was inconclusive, so the proposals rest on the counts above and "
        "need a re-measurement on a quiet machine once applied.",
        "",
        "The machine was shared with other work during this run (see load average per step); "
        "absolute rates and latencies are far below what the same code reaches on an idle "
        "machine, but the per-message counts above do not depend on load.",
    ]
