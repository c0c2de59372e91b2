"""Daphne serving the product in-process under cProfile, on the event loop and in worker threads.

The server is started as `python -m helao_chat.serve` starts it (its tuning, server class and
flags; no graceful stop).

cProfile only sees the thread that enables it, so every executor work item (the
`database_sync_to_async` / `sync_to_async` units) runs under a per-thread profiler too. Profiling
is switched on by SIGUSR1 and off by SIGUSR2, which also writes the merged pstats file, so that
start-up, imports and connection set-up stay out of the numbers.

    python -m bench.profile_server PORT OUT.prof
"""

from __future__ import annotations

import concurrent.futures.thread as cft
import contextlib
import cProfile
import pstats
import signal
import sys
import threading

from .common import daphne_args

_profiles: list[cProfile.Profile] = []
_local = threading.local()
_lock = threading.Lock()
_active = False
_main = cProfile.Profile()
_original_run = cft._WorkItem.run


def _thread_profiler() -> cProfile.Profile:
    prof = getattr(_local, "prof", None)
    if prof is None:
        prof = _local.prof = cProfile.Profile()
        with _lock:
            _profiles.append(prof)
    return prof


def _profiled_run(self):
    if not _active:
        return _original_run(self)
    prof = _thread_profiler()
    prof.enable()
    try:
        return _original_run(self)
    finally:
        prof.disable()


def _start(*_args) -> None:
    global _active
    _active = True
    _main.enable()


def _stop_and_dump(out: str) -> None:
    global _active
    _main.disable()
    _active = False
    stats = pstats.Stats(_main)
    with _lock:
        for prof in _profiles:
            with contextlib.suppress(TypeError):  # a profiler that never ran
                stats.add(prof)
    stats.dump_stats(out)


def main(port: int, out: str) -> None:
    cft._WorkItem.run = _profiled_run
    from helao_chat import serve

    # As production runs it: `python -m helao_chat.serve` (its tuning, server and flags).
    serve.tune()
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, lambda *_: _stop_and_dump(out))
    serve.run(daphne_args(port))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
