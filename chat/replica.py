"""Reads for reports and history from a streaming standby (`DATABASE_REPLICA_URL`).

Only code that asks for it reads from the standby: `replica_read(fn)` runs one read-only unit of
work with the database router pointing every read at the `replica` alias. Everything else, and
above all anything a write depends on (the consumers, need-to-know checks, the audit log,
erasure and export, the purge), reads from the primary as if there were no standby.

The standby is used only while it is usable: reachable, and no more than
`DATABASE_REPLICA_MAX_LAG_SECONDS` behind the primary. Otherwise the read runs on the primary,
and the process logs once when it stops using the standby (with the reason) and once when it
uses it again. A standby that cannot be reached is not asked again for `RETRY_SECONDS`, so that a
host that does not answer costs one connect timeout, not one per page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
RETRY_SECONDS = 10.0

# How far the standby is behind: nothing when it has replayed all it received (or is no standby
# any more, e.g. promoted), else the age of the last transaction it replayed. NULL: unknown.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
END
"""

T = TypeVar("T")

_reading: ContextVar[bool] = ContextVar("replica_reading", default=False)


class ReplicaRouter:
    """Sends reads to the standby inside `replica_read`, and everything else to the primary."""

    def db_for_read(self, model, **hints) -> str:
        return REPLICA if _reading.get() else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # The standby is a copy of the same database: a row read there is the primary's row.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.problem: str | None = None  # why the standby is not used now; None: it is
        self.retry_at = 0.0


_state = _State()


def configured() -> bool:
    return REPLICA in settings.DATABASES


def _problem() -> str | None:
    """Why the standby cannot serve a read now, or None if it can."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            lag = cursor.fetchone()[0]
    except DatabaseError as exc:
        connections[REPLICA].close()
        return f"unreachable ({type(exc).__name__})"
    limit = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    if lag is None or float(lag) > limit:
        shown = "unknown" if lag is None else f"{float(lag):.1f} s"
        return f"lagging ({shown} behind, the limit is {limit} s)"
    return None


def _note(problem: str | None, what: str) -> None:
    """Logs a change: the standby stops (or starts again) serving reads in this process."""
    with _state.lock:
        before, _state.problem = _state.problem, problem
        if problem and problem.startswith("unreachable"):
            _state.retry_at = time.monotonic() + RETRY_SECONDS
    # Once per kind of problem, not per figure: a lagging standby is not logged on every page.
    if problem and (before is None or problem.split(" ", 1)[0] != before.split(" ", 1)[0]):
        logger.warning(
            "database replica %s: %s read from the primary until it is usable again",
            problem,
            what,
        )
    elif problem is None and before is not None:
        logger.warning("database replica usable again: %s read from the replica", what)


def health() -> str | None:
    """For /healthz: "ok", "lagging" or "unreachable"; None without a replica. A check of its
    own, every time: it neither waits for nor changes what the reads decided."""
    if not configured():
        return None
    problem = _problem()
    return "ok" if problem is None else problem.split(" ", 1)[0]


def usable(what: str) -> bool:
    """Whether the standby may serve a read now (checked on each call, one small query)."""
    if not configured():
        return False
    with _state.lock:
        waiting = _state.retry_at > time.monotonic()
    if waiting:
        return False
    problem = _problem()
    _note(problem, what)
    return problem is None


def replica_read(fn: Callable[..., T], *args, what: str, **kwargs) -> T:
    """`fn(*args, **kwargs)` with its reads on the standby when it is usable, else on the primary.

    `fn` must only read, and return evaluated results (lists, dicts, numbers): a lazy queryset
    evaluated later would run on the primary. A read the standby fails midway (it went down, or
    cancelled the query for a conflict with replay) is run again on the primary.
    """
    if not usable(what):
        return fn(*args, **kwargs)
    token = _reading.set(True)
    try:
        return fn(*args, **kwargs)
    except DatabaseError as exc:
        connections[REPLICA].close()
        _note(f"failed a read ({type(exc).__name__})", what)
    finally:
        _reading.reset(token)
    return fn(*args, **kwargs)
