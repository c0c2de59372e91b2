"""The browsers' reconnect policy, read from `static/shared/socket.js`, for the load generator.

The widget's panel and the console reconnect through one module, `static/shared/socket.js`:
exponential backoff with full jitter after an unexpected close, and after a server restart
(close 4012) the delay the `restart` frame named (capped), else a short jittered one. The
reconnect storm measures a server restart with the clients behaving exactly so: the constants
are read from that file here (not copied), and `tests/test_bench_backoff.py` runs the module's
own functions and its socket state machine under node next to this one, with the same random
numbers, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SOCKET_JS = Path(__file__).resolve().parent.parent / "static" / "shared" / "socket.js"
NAMES = (
    "BACKOFF_BASE_MS",
    "BACKOFF_CAP_MS",
    "RESTART_MIN_MS",
    "RESTART_MAX_MS",
    "PING_EVERY_MS",
    "SILENT_AFTER_MS",
)
_CONST = re.compile(r"^export const ([A-Z_]+) = (\d+);", re.M)
_CLOSE = re.compile(r"^export const CLOSE = \{([^}]*)\};", re.M)


@cache
def constants(path: Path = SOCKET_JS) -> dict[str, int]:
    """`export const NAME = 123;` lines and the `CLOSE` table of socket.js."""
    text = path.read_text()
    found = {name: int(value) for name, value in _CONST.findall(text)}
    missing = [n for n in NAMES if n not in found]
    close = _CLOSE.search(text)
    if missing or close is None:
        what = missing or "CLOSE"
        raise RuntimeError(f"{path} no longer defines {what}; update bench/backoff.py")
    for item in close.group(1).split(","):
        key, _, value = item.partition(":")
        if key.strip():
            found[f"CLOSE_{key.strip()}"] = int(value)
    return found


def backoff_delay_ms(attempt: int, random: Callable[[], float]) -> float:
    """socket.js `backoffDelay`: 0 to min(cap, base * 2^attempt), attempt counted from 0."""
    c = constants()
    return random() * min(c["BACKOFF_CAP_MS"], c["BACKOFF_BASE_MS"] * 2 ** min(attempt, 15))


def restart_delay_ms(random: Callable[[], float]) -> float:
    """socket.js `restartDelay`: a delay between RESTART_MIN_MS and RESTART_MAX_MS."""
    c = constants()
    return c["RESTART_MIN_MS"] + random() * (c["RESTART_MAX_MS"] - c["RESTART_MIN_MS"])


def close_action(code: int, role: str) -> str:
    """socket.js `closeAction`: "login", "forget", "restart" or "backoff"."""
    c = constants()
    if code == c["CLOSE_FORBIDDEN"] and role == "console":
        return "login"
    if code == c["CLOSE_ERASED"] and role == "widget":
        return "forget"
    if code == c["CLOSE_RESTART"]:
        return "restart"
    return "backoff"


@dataclass
class Reconnect:
    """The reconnect state of one `createSocket`: what it does on a frame and on a close.

    `on_frame` for every frame received, `on_close` when the socket closed (or could not open:
    the browser reports that as a close with 1006); `on_close` returns the delay in ms before
    the next connect, or None for no reconnect. Mirrors `receive` and `closed` in socket.js.
    """

    role: str
    random: Callable[[], float]
    attempt: int = 0
    restart_after: float | None = None
    stopped: bool = False

    def on_frame(self, frame: dict) -> None:
        if frame.get("type") == "restart":
            value = frame.get("retry_after_ms")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cap = constants()["BACKOFF_CAP_MS"]
                self.restart_after = min(max(value, 0), cap)
        if frame.get("type") == "welcome":
            self.attempt = 0

    def on_close(self, code: int) -> float | None:
        action = close_action(code, self.role)
        if action == "login":
            self.stopped = True
            return None
        self.attempt += 1
        if action == "restart":
            delay = self.restart_after
            if delay is None:  # `restartAfter ?? restartDelay(random)`
                delay = restart_delay_ms(self.random)
        else:
            delay = backoff_delay_ms(self.attempt - 1, self.random)
        self.restart_after = None
        return delay
