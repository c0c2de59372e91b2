"""docs/benchmarks.md's generator and the JSON summary line, from sample results (no bench run):
the new chats a second, the reconnect storm and 10,000 idle sockets beside both baselines."""

from __future__ import annotations

import copy

import pytest

from bench import report, runner

ISSUE_KEYS = {
    "starts_per_s_max",
    "start_p99_ms_at_100",
    "storm_resume_s",
    "storm_lost",
    "storm_duplicates",
    "idle_rss_kib_per_socket_10k",
    # and the keys the summary line had before
    "max_sustainable_msgs_per_s",
    "p99_ms_at_100_msgs_per_s",
    "server_cpu_ms_per_msg",
    "idle_rss_kib_per_socket",
    "overload_lost",
    "soak_lost",
}


def _idle(sockets: int, kib: float, cpu: float, mark_kib: float) -> dict:
    return {
        "sockets": sockets,
        "failed": 0,
        "not_tried_time_limit": 0,
        "connect_seconds": 9.0,
        "rss_before_mb": 100.0,
        "rss_after_mb": 100.0 + sockets * kib / 1024,
        "kib_per_socket": kib,
        "idle_cpu_pct": cpu,
        "idle_cpu_seconds": 3.0,
        "pinged_every_s": 25.0,
        "marks": [{"sockets": 300, "kib_per_socket": mark_kib}],
        "server_alive": True,
    }


def _starts_step(rate: float, p99: float, shed: int = 0) -> dict:
    return {
        "rate": rate,
        "seconds": 2,
        "visitors": int(rate * 2),
        "started": int(rate * 2) - shed,
        "shed": shed,
        "lost": 0,
        "errors": {},
        "achieved_rate": rate,
        "p50_ms": p99 / 3,
        "p99_ms": p99,
        "max_ms": p99 * 1.2,
        "server_cpu_ms_per_start": 6.5,
        "server_cpu_pct": 40.0,
        "loadgen_cpu_pct": 10.0,
        "server_rss_mb": 110.0,
        "loadavg_1m": 1.0,
        "ok": p99 < 250 and not shed,
    }


PROFILE = {
    "messages": 60,
    "sent": 60,
    "conversations": 0,
    "delivered": 60,
    "p99_ms": 40.0,
    "rate": 20.0,
    "profiled_busy_ms_per_message": 9.5,
    "buckets": [
        {"what": "Django ORM / db backend", "ms_per_message": 3.1, "share": 0.33},
        {"what": "product code (realtime/, chat/, agents/)", "ms_per_message": 1.2, "share": 0.13},
    ],
    "top": [
        {
            "function": "chat/services.py:10(conversation_open)",
            "calls_per_message": 1.0,
            "own_ms_per_message": 0.2,
            "cum_ms_per_message": 6.0,
        }
    ],
    "product": [
        {
            "function": "chat/services.py:10(conversation_open)",
            "calls_per_message": 1.0,
            "cum_ms_per_message": 6.0,
        }
    ],
    "counts": [
        {"what": "thread hops (executor work items)", "per_message": 3.0},
        {"what": "SQL statements (psycopg execute)", "per_message": 14.0},
    ],
}


def sample() -> dict:
    """Results as a QUICK run leaves them: every step ran with the smaller counts."""
    return {
        "quick": True,
        "date": "2026-12-06 22:00 UTC",
        "total_seconds": 280.0,
        "machine": {
            "cpu": "test × 2",
            "memory": "24 GiB",
            "load": "0.1",
            "os": "Linux",
            "python": "3.11",
            "postgresql": "15",
            "redis": "7",
            "versions": "",
            "free": "",
        },
        "plan": dict(runner.QUICK.__dict__),
        "commit_probe": {"median_ms": 0.4},
        "product": {"idle": _idle(1000, 28.5, 1.2, 31.0)},
        "baseline_a": {"idle": _idle(1000, 37.1, 0.3, 38.2)},
        "baseline_b": {"idle": _idle(1000, 48.4, 0.0, 48.1)},
        "starts": {
            "agents": 4,
            "reference_100": _starts_step(100, 180.0),
            "ramp": [_starts_step(10, 20.0), _starts_step(25, 40.0), _starts_step(50, 400.0)],
            "starts_per_s_max": 25,
            "start_p99_ms_at_100": 180.0,
            "cpu_ms_per_start_at_100": 6.5,
            "profile": PROFILE,
        },
        "storm": {
            "setup": {"visitors": 500, "consoles": 20, "seconds": 30.0, "errors": {}},
            "rate": 20.0,
            "rss_mb_before": 150.0,
            "new_process_listening_s": 3.1,
            "new_process_cpu_s": 3.12,
            "resume_s": 9.8,
            "resume_p50_s": 5.9,
            "not_resumed": 0,
            "sent": 258,
            "delivered": 256,
            "lost": 2,
            "duplicates": 0,
            "received_again_same_id": 40,
            "lost_sample": [["storm-0000136-c84b3b", 547, "visitor"]],
            "visitors": 500,
            "consoles": 20,
            "unsent_at_end": 0,
            "restart_frames": 520,
            "close_codes": {"4012": 520, "1006": 48},
            "refused_connects": 48,
            "errors": {},
            "old_process_exit_code": 0,
            "peak_rss_mb_old": 150.3,
            "peak_rss_mb_new": 170.4,
            "peak_rss_mb": 170.4,
            "stored_twice": 0,
        },
    }


def test_the_summary_line_keeps_every_key_with_this_runs_figures():
    s = report.summary(sample())
    assert set(s) >= ISSUE_KEYS
    assert s["starts_per_s_max"] == 25
    assert s["start_p99_ms_at_100"] == 180.0
    assert s["server_cpu_ms_per_start"] == 6.5
    assert (s["storm_resume_s"], s["storm_lost"], s["storm_duplicates"]) == (9.8, 2, 0)
    assert s["storm_peak_rss_mb"] == 170.4
    assert s["storm_sockets"] == 520
    assert s["storm_server_cpu_s"] == 3.12
    # The 10k figure is the full count's, the older key the figure on the way (the mark).
    assert s["idle_rss_kib_per_socket_10k"] == 28.5
    assert s["idle_rss_kib_per_socket"] == 31.0
    assert s["baseline_a_idle_rss_kib_per_socket_10k"] == 37.1
    assert s["baseline_b_idle_rss_kib_per_socket_10k"] == 48.4
    assert (s["idle_cpu_pct_10k"], s["baseline_b_idle_cpu_pct_10k"]) == (1.2, 0.0)


def test_steps_that_did_not_run_give_null_keys_not_missing_ones():
    r = sample()
    r["storm"] = {"error": "RuntimeError: product-storm-1 exited at start"}
    del r["starts"]
    r["product"]["idle"] = {"error": "timeout"}
    s = report.summary(r)
    assert set(s) >= ISSUE_KEYS
    for key in ("starts_per_s_max", "storm_resume_s", "storm_lost", "idle_rss_kib_per_socket_10k"):
        assert s[key] is None, key


def test_idle_figures_with_many_failed_handshakes_are_not_reported():
    r = sample()
    r["product"]["idle"]["failed"] = 500
    s = report.summary(r)
    assert s["idle_rss_kib_per_socket_10k"] is None
    assert s["idle_rss_kib_per_socket"] is None


def _lines(r: dict, tmp_path) -> list[str]:
    out = tmp_path / "benchmarks.md"
    report.write(r, report.summary(r), str(out))
    return out.read_text().splitlines()


def _goal(lines: list[str], label: str) -> str:
    found = [line for line in lines if line.startswith(f"- {label}")]
    assert len(found) == 1, (label, found)
    return found[0]


def test_the_report_has_the_rows_and_judges_each_goal(tmp_path):
    lines = _lines(sample(), tmp_path)
    text = "\n".join(lines)
    for row in (
        "| new chats a second sustained, one process | 25 | | | ≥ 200",
        "| p99 ms hello → conversation.started, at 100 starts/s | 180.0 | | | < 250 |",
        "| reconnect storm, 520 sockets: all resumed within s | 9.80 | | | ≤ 20 |",
        "| reconnect storm: lost / duplicates | 2 / 0 | | | 0 / 0 |",
        "| idle socket RSS KiB, 1000 open | 28.5 | 37.1 | 48.4 | ≤ 30 (10,000 open) |",
        "| idle CPU %, 1000 open (pinging as browsers do) | 1.20 | 0.30 | 0.00 | < 2 |",
    ):
        assert row in text, row
    assert _goal(lines, "≥ 200 new chats a second").endswith("25 → **not met**")
    assert _goal(lines, "p99 hello → conversation.started").endswith("180.0 → met")
    assert _goal(lines, "reconnect storm: every socket resumed").endswith("9.8 → met")
    assert "measured with 520 sockets" in _goal(lines, "reconnect storm: every socket")
    assert _goal(lines, "reconnect storm: every message exactly once").endswith(
        "2 / 0 / 0 → **not met**"
    )
    assert _goal(lines, "idle socket ≤ 30 KiB").endswith("28.5 → met")
    assert "measured with 1,000 sockets" in _goal(lines, "idle socket ≤ 30 KiB")
    assert _goal(lines, "idle CPU < 2 %").endswith("1.2 → met")
    assert "### Product, new chats a second" in text
    assert "### Product, reconnect storm (a rolling restart)" in text
    assert "## Profile of the product's start path" in text
    assert "14.0 SQL statements" in text  # what is left per start, from the profile
    assert "`chat/services.py:10(conversation_open)` 6.0 ms" in text
    assert "storm-0000136-c84b3b" in text  # the lost sample, to look them up
    assert "| the new process's CPU from listening until all resumed | 3.12 s (6.00 ms" in text


def test_a_storm_that_did_not_resume_is_not_met_and_one_not_run_is_not_measured(tmp_path):
    r = sample()
    r["storm"].update(resume_s=None, not_resumed=12, lost=0)
    line = _goal(_lines(r, tmp_path), "reconnect storm: every socket resumed")
    assert line.endswith("12 sockets had not resumed after the limit → **not met**")
    r2 = sample()
    r2["storm"] = {"error": "boom"}
    del r2["starts"]
    lines = _lines(r2, tmp_path)
    assert _goal(lines, "reconnect storm: every socket resumed").endswith("→ not measured")
    assert _goal(lines, "≥ 200 new chats a second").endswith("→ not measured")
    assert "Could not run: `boom`" in "\n".join(lines)


def test_shedding_at_the_reference_rate_fails_the_p99_goal(tmp_path):
    r = copy.deepcopy(sample())
    r["starts"]["reference_100"] = _starts_step(100, 120.0, shed=30)
    assert _goal(_lines(r, tmp_path), "p99 hello → conversation.started").endswith("→ **not met**")


@pytest.mark.parametrize(
    ("field", "full"),
    [("storm_visitors", 5000), ("storm_consoles", 100), ("idle_sockets", 10000)],
)
def test_full_counts_are_the_issues_and_quick_ones_smaller_but_not_zero(field, full):
    assert getattr(runner.FULL, field) == full
    assert 0 < getattr(runner.QUICK, field) < full
    assert runner.QUICK.baseline_idle_sockets == runner.QUICK.idle_sockets
    assert runner.FULL.baseline_idle_sockets == runner.FULL.idle_sockets


def test_a_second_run_sets_every_figure_beside_the_previous_reports(tmp_path):
    first = sample()
    first["baseline_b"]["single"] = {"max_msgs_per_s": 2000}
    lines = _lines(first, tmp_path)
    assert "No earlier report with a summary line to compare with." in lines

    second = copy.deepcopy(first)
    second["date"] = "2026-12-07 03:00 UTC"
    second["starts"]["starts_per_s_max"] = 50  # twice the first run's 25
    second["starts"]["start_p99_ms_at_100"] = 360.0  # twice the first run's 180
    second["baseline_b"]["single"]["max_msgs_per_s"] = 4000
    lines = _lines(second, tmp_path)  # the same file: the first run's report is replaced
    text = "\n".join(lines)
    assert f"The previous report ({first['date']})" in text
    assert "| `starts_per_s_max` | 25 | 50 | better (+100 %) |" in lines
    assert "| `start_p99_ms_at_100` | 180.0 | 360.0 | worse (+100 %) |" in lines
    assert "| `storm_resume_s` | 9.80 | 9.80 | same |" in lines
    assert not any(line.startswith("| `storm_sockets`") for line in lines)
    # A baseline's change is the machine's, neither better nor worse for the product.
    row = next(line for line in lines if line.startswith("| `baseline_b_max_msgs_per_s`"))
    assert row.endswith("| higher (+100 %), a baseline |")


def test_a_report_without_a_readable_summary_line_is_no_previous_run():
    assert report.previous_summary("# Benchmarks\n\nnothing here\n") is None
    broken = (
        "Generated by `make bench` on 2026-12-01; total 1 s.\n## Summary line\n```json\n{\n```\n"
    )
    assert report.previous_summary(broken) is None
