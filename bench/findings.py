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
        *PROFILE_FINDINGS,
    ]
    return lines


# Written from the profile of the product as it stands (see "Profile" below); each item is a
# proposal for the product code, with what it should remove.
PROFILE_FINDINGS: list[str] = []
