"""When the cycle collector runs in a Daphne process.

Every open websocket keeps about 200 tracked objects (Twisted's protocol and request, the
consumer, its tasks and channel queue). CPython's full collection walks all of them: ~100 ms with
550 sockets on a 2-core machine, and it comes whenever the long-lived objects have grown by a
quarter, that is, while sockets are opening, in the middle of live traffic.

So the process moves what has survived into the collector's permanent generation every
`CHAT_GC_FREEZE_SECONDS`, after a collection of the young generations (cheap, and it frees
what is already garbage). Full collections then walk only what was made since. Frozen objects are
still freed as soon as nothing refers to them; only cycles among them wait, for the deep
collection every `CHAT_GC_FULL_COLLECT_SECONDS`, which unfreezes, collects everything once and
freezes again. That pause is the old one, but once per period instead of whenever sockets open.
A closed socket leaves ~20 KB in such cycles, so the period bounds that memory too.

Between two settles, CPython's own full collections still come: whenever what moved to the old
generation since the last one exceeds a quarter of what that one left, and after a freeze that
is very little. In a reconnect storm (thousands of sockets opening within seconds) a full
collection came about every second, each walking everything made since the last settle, up to
340 ms with the event loop stopped: 2.4 s of a 40 s storm. So the survivors of a full collection
the interpreter starts itself are frozen at once too (`_freeze_after`): each object is
walked by one full collection, not by every one until the next settle.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

logger = logging.getLogger(__name__)


def settle() -> None:
    """Collects the young generations and freezes the survivors."""
    gc.collect(1)
    gc.freeze()


def deep_collect() -> int:
    """Collects everything, frozen objects included, then freezes the survivors."""
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    return found


def _freeze_after(phase: str, info: dict) -> None:
    """A collector callback: what survived a full collection is frozen (module docstring)."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


class Policy:
    """A daemon thread: settles every `freeze_every` s, deep-collects every `full_every` s; and
    meanwhile the survivors of every full collection are frozen (`_freeze_after`)."""

    def __init__(self, freeze_every: float, full_every: float) -> None:
        self.freeze_every = freeze_every
        self.full_every = full_every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gc-policy", daemon=True)

    def start(self) -> Policy:
        if _freeze_after not in gc.callbacks:
            gc.callbacks.append(_freeze_after)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        if _freeze_after in gc.callbacks:
            gc.callbacks.remove(_freeze_after)

    def _run(self) -> None:
        next_full = time.monotonic() + self.full_every
        while not self.stopped.wait(self.freeze_every):
            try:
                if self.full_every > 0 and time.monotonic() >= next_full:
                    started = time.perf_counter()
                    found = deep_collect()
                    logger.info(
                        "deep collection: %d unreachable objects in %.0f ms",
                        found,
                        (time.perf_counter() - started) * 1000,
                    )
                    next_full = time.monotonic() + self.full_every
                else:
                    settle()
            except Exception:  # never let the thread die; the collector still runs by itself
                logger.exception("collector policy step failed")


def start(freeze_every: float, full_every: float) -> Policy | None:
    """Starts the policy in this process, or does nothing when `freeze_every` is 0."""
    if freeze_every <= 0:
        return None
    return Policy(freeze_every, full_every).start()
