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
        "What the message path costs, and what to change (product code is not changed by the "
        "benchmark; these are proposals, counts are per stored message from the profile below):",
        "",
        f"1. **Every sync unit of a process runs on one thread.** `database_sync_to_async` and "
        f"`sync_to_async` default to `thread_sensitive=True`, so all consumers of a Daphne "
        f"process queue for a single worker thread. A message takes {hops} thread hops, and the "
        f"throughput of the whole process is 1 / (wall time of the units), not CPU: here a raw "
        f"INSERT+COMMIT alone takes {commit} ms (PostgreSQL with `synchronous_commit="
        f"{probe.get('synchronous_commit', '?')}` waits for the WAL flush on a shared disk), so "
        "the process cannot go beyond a few dozen messages per second however idle its CPU "
        "is; the load points show low server CPU with seconds of latency. *Proposal*: do the "
        "message write on the event loop with an async psycopg connection pool (or "
        "`thread_sensitive=False` units on a bounded pool of connections) so that writes "
        "overlap and PostgreSQL can group their commits.",
        f"2. **Channels 4.3 adds a thread hop before every handler.** `AsyncConsumer.dispatch` "
        f"awaits `aclose_old_connections()` (a thread-sensitive `sync_to_async`) before each "
        f"incoming frame *and* before each `chat.event` delivered from the channel layer "
        f"({closes} `close_old_connections` per message). The fan-out of `message.new` to the "
        "other side therefore waits in the same queue as the database writes: delivery latency "
        "is coupled to the slowest write in the process. *Proposal*: override `dispatch` in "
        "`JsonFrameConsumer` to call the handler directly (the units already close stale "
        "connections in `database_sync_to_async`); at least skip it for `chat.event`.",
        f"3. **Round trips per message.** {sql} SQL statements per stored message "  # noqa: S608
        f"({checks} of them the `SELECT 1` health check that `CONN_HEALTH_CHECKS=True` runs "
        "after every `close_old_connections`), plus "
        f"{commands} BEGIN/COMMIT commands, each its own round trip with psycopg 3: load the "
        "conversation, look the client id up, INSERT in an atomic block (COMMIT), then "
        "`UPDATE conversation SET last_activity_at` outside it, which autocommits: **two "
        "commits, two WAL flushes per message**. *Proposal*: one statement — `INSERT … ON "
        "CONFLICT (conversation_id, client_msg_id) WHERE client_msg_id <> '' DO NOTHING "
        "RETURNING …` in a CTE that also updates `last_activity_at` (and `first_response_at`) "
        "with the status/assignee check in its WHERE; the consumer already knows the "
        "conversation, so the leading SELECT goes; no health checks on the websocket path (a "
        "failed statement already discards a broken connection).",
        "4. **Group commit.** With commits this slow, ≥ 500 msg/s per process needs several "
        "messages per commit: an in-process writer that collects the messages arriving within "
        "~1–2 ms (or while the previous batch commits), writes them in one multi-row INSERT in "
        "one transaction, then acknowledges and publishes each one. Persist-before-broadcast "
        "and idempotency (`ON CONFLICT`) are kept; the latency cost is at most one batch window.",
        f"5. **Per-IP message limit in the shared cache.** Each visitor message first hops to a "
        f"thread for `limits.ip_message_allowed` ({sync_redis} sync Redis commands per stored "
        "message on average: `cache.add` = SET NX, then `cache.incr` = EXISTS + INCRBY, i.e. "
        "three round trips per visitor message) — a second thread hop and three Redis round "
        "trips before the write even starts. *Proposal*: the redis.asyncio client on the "
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
