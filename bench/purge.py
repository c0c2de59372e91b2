# ruff: noqa: S608 (table names below are constants of this file, never input)
"""Benchmark of the retention purge on PostgreSQL, side by side with the two obvious ways.

On identical data (generated with SQL in a database of its own, `helao_bench_purge`, created and
dropped here) it measures:

- ours: `retention.purge.purge_expired()`, in a subprocess whose peak RSS is read from the kernel;
- (a) the plain ORM way, `Conversation.objects.filter(...).delete()` through Django's collector,
  also in a subprocess;
- (b) one unbatched `DELETE` statement per table.

`run(quick=False)` returns the numbers and a markdown table; `python -m bench.purge [--quick]`
prints them. Full size is 1,000,000 expired messages in 100,000 conversations (each also with a
page visit, a connection record and a host context, every fifth with a feedback answer); quick is
a twentieth of that.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "helao_bench_purge"
MESSAGES_PER_CONVERSATION = 10

TABLES = (
    "chat_message",
    "chat_pagevisit",
    "chat_visitorconnection",
    "chat_hostcontext",
    "feedback_feedback",
    "chat_conversation",
)


def _server_url() -> str:
    """The PostgreSQL server of BENCH_DATABASE_URL or DATABASE_URL, else the local default."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    return url


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _connect(url: str, name: str):
    import psycopg

    conninfo = _with_db(url, name).replace("postgres://", "postgresql://", 1)
    return psycopg.connect(conninfo, autocommit=True)


def _child_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="helao_chat.settings",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def _run_child(kind: str, db_url: str) -> dict[str, Any]:
    """Runs one deletion method in a fresh process; adds that process's peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.purge", "--child", kind],
        cwd=ROOT,
        env=_child_env(db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=3600)
    # The child reports its own peak (`_peak_rss_kb`): RUSAGE_CHILDREN here would be the maximum
    # over every child so far (the migrate run included), not this one's.
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} purge failed: {err.strip()[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _peak_rss_kb() -> int:
    """This process's own peak RSS in KiB.

    Linux keeps `ru_maxrss` across exec: a child started from the benchmark's process begins
    with that process's peak (hundreds of MB), so the kernel's high-water mark of this process's
    own memory (VmHWM) is read instead where there is one.
    """
    import resource

    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(kind: str) -> None:
    """Inside the subprocess: delete everything expired with one method and report."""

    import django

    django.setup()
    from chat.models import Conversation
    from chat.retention_period import retention_cutoff
    from retention.purge import purge_expired

    # Django's own startup is not the purge's memory; report growth as well as the peak.
    baseline_kb = _peak_rss_kb()
    fold_seconds = 0.0
    if kind == "ours":
        from retention.purge import register_models

        # In production every run (every few minutes) first lets the apps prepare: the feedback
        # app folds each day into its reports two days after it ends, months before its rows
        # expire. The generated data is one fresh backlog of unfolded days; folding it is
        # timed on its own, and the purge then meets the data in the state it always does.
        fold_started = time.perf_counter()
        register_models()
        fold_seconds = time.perf_counter() - fold_started
    started = time.perf_counter()
    if kind == "ours":
        outcome = purge_expired()
        elapsed = time.perf_counter() - started
        deleted = outcome.deleted
        longest_ms = outcome.longest_transaction_ms
        batches = outcome.batches
    elif kind == "orm":
        _, per_model = Conversation.objects.filter(last_activity_at__lt=retention_cutoff()).delete()
        elapsed = time.perf_counter() - started
        deleted = {label.lower(): n for label, n in per_model.items()}
        # The collector deletes everything in one transaction.
        longest_ms = elapsed * 1000
        batches = 1
    else:
        raise SystemExit(f"unknown method {kind}")
    peak_kb = _peak_rss_kb()
    from django.conf import settings

    print(
        json.dumps(
            {
                "workers": settings.CHAT_PURGE_WORKERS if kind == "ours" else 1,
                "deleted": deleted,
                "seconds": elapsed,
                "longest_transaction_ms": longest_ms,
                "batches": batches,
                "peak_rss_mb": peak_kb / 1024,
                "rss_growth_mb": (peak_kb - baseline_kb) / 1024,
                "fold_seconds": fold_seconds,
            }
        )
    )


def _generate(conn, conversations: int) -> int:
    """Fills the register with expired rows, all with SQL; returns the number of messages."""
    messages = conversations * MESSAGES_PER_CONVERSATION
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        # Everything ended 120 days ago or earlier: past a 3-month period, oldest ids oldest.
        cur.execute(
            """
            INSERT INTO chat_conversation (id, reference, token_hash, status, language,
                created_at, last_activity_at, closed_at, closed_by)
            SELECT g, 'B' || lpad(g::text, 10, '0'), md5(g::text) || md5('t' || g::text),
                'closed', 'fi',
                now() - interval '120 days' - (%(n)s - g) * interval '1 minute',
                now() - interval '120 days' - (%(n)s - g) * interval '1 minute'
                    + interval '10 minutes',
                now() - interval '120 days' - (%(n)s - g) * interval '1 minute'
                    + interval '10 minutes',
                'visitor'
            FROM generate_series(1, %(n)s) g
            """,
            {"n": conversations},
        )
        cur.execute(
            """
            INSERT INTO chat_message (id, conversation_id, sender, author_name, text,
                client_msg_id, created_at)
            SELECT g, c, CASE WHEN g %% 2 = 0 THEN 'agent' ELSE 'visitor' END, '',
                'Hello, a question about my course registration ' || md5(g::text),
                md5(g::text),
                now() - interval '120 days' - (%(n)s - c) * interval '1 minute'
                    + (g %% %(m)s) * interval '1 minute'
            FROM generate_series(1, %(total)s) g,
                LATERAL (SELECT (g - 1) / %(m)s + 1 AS c) x
            """,
            {"n": conversations, "m": MESSAGES_PER_CONVERSATION, "total": messages},
        )
        common = "now() - interval '120 days' - (%(n)s - g) * interval '1 minute'"
        cur.execute(
            f"""
            INSERT INTO chat_pagevisit (id, conversation_id, url, title, referrer, created_at)
            SELECT g, g, 'https://www.example.org/courses/' || g, 'Courses', '', {common}
            FROM generate_series(1, %(n)s) g
            """,
            {"n": conversations},
        )
        cur.execute(
            f"""
            INSERT INTO chat_visitorconnection (id, conversation_id, ip_address, user_agent,
                browser, os, device_type, language, screen, created_at)
            SELECT g, g, ('10.' || (g / 65536) %% 256 || '.' || (g / 256) %% 256 || '.'
                    || g %% 256)::inet,
                'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
                'Firefox', 'Linux', 'desktop', 'fi', '1920x1080', {common}
            FROM generate_series(1, %(n)s) g
            """,
            {"n": conversations},
        )
        cur.execute(
            f"""
            INSERT INTO chat_hostcontext (id, conversation_id, data, created_at)
            SELECT g, g, jsonb_build_object('customer', g), {common}
            FROM generate_series(1, %(n)s) g
            """,
            {"n": conversations},
        )
        cur.execute(
            f"""
            INSERT INTO feedback_feedback (id, conversation_id, service_satisfied,
                channel_satisfied, comment, created_at)
            SELECT g, g, g %% 3 <> 0, true, '', {common} + interval '11 minutes'
            FROM generate_series(1, %(n)s) g WHERE g %% 5 = 0
            """,
            {"n": conversations},
        )
        for table in TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        # The planner sees the data as it would in production after autovacuum.
        cur.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
    return messages


def _single_deletes(conn) -> dict[str, Any]:
    """(b): one DELETE per table, each its own transaction holding its locks until the end."""
    deleted: dict[str, int] = {}
    longest = 0.0
    started = time.perf_counter()
    with conn.cursor() as cur:
        for table in TABLES:
            column = "last_activity_at" if table == "chat_conversation" else "created_at"
            t0 = time.perf_counter()
            cur.execute(f"DELETE FROM {table} WHERE {column} < now() - interval '3 months'")
            longest = max(longest, time.perf_counter() - t0)
            deleted[table] = cur.rowcount
    return {
        "deleted": deleted,
        "seconds": time.perf_counter() - started,
        "longest_transaction_ms": longest * 1000,
        "batches": len(TABLES),
        "peak_rss_mb": None,
    }


def _remaining(conn) -> int:
    with conn.cursor() as cur:
        return sum(cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)


def _messages_deleted(deleted: dict[str, int]) -> int:
    return sum(n for label, n in deleted.items() if label in ("chat.message", "chat_message"))


def run(quick: bool = False, *, conversations: int | None = None) -> dict[str, Any]:
    """Generates the data, purges it three ways, and returns the measurements."""
    conversations = conversations or (5_000 if quick else 100_000)
    server = _server_url()
    db_url = _with_db(server, BENCH_DB)
    admin = _connect(server, "postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=_child_env(db_url),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrate.stderr.strip()[-2000:]}")
        conn = _connect(server, BENCH_DB)
        results: dict[str, dict[str, Any]] = {}
        try:
            for method in ("ours", "orm", "single"):
                messages = _generate(conn, conversations)
                if method == "single":
                    results[method] = _single_deletes(conn)
                else:
                    results[method] = _run_child(method, db_url)
                left = _remaining(conn)
                if left:
                    raise RuntimeError(f"{method} left {left} expired rows behind")
                results[method]["messages"] = _messages_deleted(results[method]["deleted"])
                results[method]["rows"] = sum(results[method]["deleted"].values())
                if results[method]["messages"] != messages:
                    raise RuntimeError(f"{method} deleted {results[method]['messages']} messages")
        finally:
            conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.close()

    def rate(method: str) -> float:
        r = results[method]
        return round(r["messages"] / r["seconds"]) if r["seconds"] else 0.0

    ours, orm, single = results["ours"], results["orm"], results["single"]
    summary: dict[str, Any] = {
        "purge_messages": ours["messages"],
        "purge_conversations": conversations,
        "purge_rows_per_s": rate("ours"),
        "purge_orm_rows_per_s": rate("orm"),
        "purge_single_delete_rows_per_s": rate("single"),
        "purge_longest_transaction_ms": round(ours["longest_transaction_ms"], 1),
        "purge_peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "purge_orm_peak_rss_mb": round(orm["peak_rss_mb"], 1),
        "purge_orm_longest_transaction_ms": round(orm["longest_transaction_ms"], 1),
        "purge_single_delete_longest_transaction_ms": round(single["longest_transaction_ms"], 1),
        "purge_batches": ours["batches"],
        "purge_workers": ours["workers"],
        "purge_fold_seconds": round(ours.get("fold_seconds") or 0.0, 2),
    }
    summary["purge_vs_orm"] = round(summary["purge_rows_per_s"] / max(rate("orm"), 1), 2)
    summary["purge_vs_single_delete"] = round(
        summary["purge_rows_per_s"] / max(rate("single"), 1), 2
    )

    def row(name: str, r: dict[str, Any]) -> str:
        rss = "–" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}"
        return (
            f"| {name} | {r['messages'] / r['seconds']:,.0f} | {r['rows']:,} | "
            f"{r['seconds']:.2f} | {r['longest_transaction_ms']:,.1f} | {rss} |"
        )

    summary["markdown"] = "\n".join(
        [
            f"Purge of {ours['messages']:,} expired messages in {conversations:,} conversations "
            "(plus a page visit, a connection and a host context each, a feedback answer for "
            "every fifth), PostgreSQL, same data for each method. Rates are message rows per "
            "second of wall time; all rows of every table are deleted in each case.",
            "",
            "| method | message rows/s | rows deleted | seconds | longest transaction ms "
            "| peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|",
            row(f"ours: short batches, {ours['workers']} connection(s)", ours),
            row("(a) ORM `Conversation.objects.filter(...).delete()`", orm),
            row("(b) one unbatched DELETE per table", single),
            "",
            f"Ours: {summary['purge_vs_orm']}× the ORM's rate, "
            f"{summary['purge_vs_single_delete']}× the single DELETEs' rate, in "
            f"{ours['batches']} transactions. Peak RSS is the whole Python process "
            f"including Django (ours grew by {ours['rss_growth_mb']:.0f} MB while purging, "
            f"the ORM by {orm['rss_growth_mb']:.0f} MB); (b) runs in the server only. "
            "Ours meets the days already folded into the feedback reports, as production runs "
            "leave them (a day is folded two days after it ends); folding this generated "
            f"backlog at once took {summary['purge_fold_seconds']:.1f} s more, before the purge "
            "and outside its transactions. Neither other method folds anything.",
        ]
    )
    return summary


def main(argv: list[str]) -> None:
    if "--child" in argv:
        _child(argv[argv.index("--child") + 1])
        return
    conversations = None
    if "--conversations" in argv:
        conversations = int(argv[argv.index("--conversations") + 1])
    summary = run(quick="--quick" in argv, conversations=conversations)
    print(summary["markdown"])
    print(json.dumps({k: v for k, v in summary.items() if k != "markdown"}))


if __name__ == "__main__":
    main(sys.argv[1:])
