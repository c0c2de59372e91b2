"""The retention purge: deletes every record of the register older than the retention period.

How it stays fast and harmless at any size:

- Every table by its own time first, in batches that are ranges of the time column's index: the
  first `n` index entries are the batch, deleted in the same statement by their tuple ids; the
  next batch starts after its last row (time, then id for ties) instead of walking again over the
  entries just deleted. (Deleting by an id array costs a primary-key probe per row, through the
  index range a second walk of it; `id IN (SELECT ... LIMIT n)` may even become a hash join over
  the whole table.)
- Conversations last, by batches of ids (`FOR UPDATE SKIP LOCKED`): by then almost nothing hangs
  off them, but whatever still does (rows newer than the last activity, tables without a time
  column) goes in the same statement, found generically from the models' reverse relations, so
  tables of other apps are covered too. Most of the cost is PostgreSQL's foreign-key check of
  each deleted conversation, one per referencing table (see migration 0002).
- Each batch is its own short transaction, sized adaptively towards `TARGET_BATCH_SECONDS`, so no
  live chat ever waits long behind the purge. Nothing is loaded as model instances and Django's
  collector and delete signals are bypassed.
- On PostgreSQL the work is shared by `CHAT_PURGE_WORKERS` connections (threads): first the
  register's tables, each cut into equal spans of time that the workers take in turn, then the
  conversations, each worker taking the next batch the others have not locked (`SKIP LOCKED`), so
  each row is deleted once. The foreign-key checks run in the database server, on its cores, not
  in Python. A failing worker stops the others after their current batch. Called inside a
  transaction (whose rows other connections could not see), the purge stays on its caller's
  connection.
- Never two purges at once: a PostgreSQL session advisory lock (a file lock on SQLite). A second
  run started meanwhile returns "skipped".
- Idempotent: each batch commits on its own, so a run killed midway leaves only fully deleted
  batches behind and the next run simply continues.
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, connections, models, transaction
from django.utils import timezone

from chat import hooks
from chat.foreign_keys import column, related_model
from chat.models import (
    AuditEvent,
    Conversation,
    HostContext,
    Message,
    PageVisit,
    RetentionRun,
    VisitorConnection,
)
from chat.retention_period import audit_cutoff, retention_cutoff

logger = logging.getLogger(__name__)

#: Key of the PostgreSQL advisory lock held for the duration of a run ("helaopu").
ADVISORY_LOCK_KEY = 0x68656C616F7075
#: Batches grow or shrink so that one transaction takes about this long (the goal is < 100 ms).
TARGET_BATCH_SECONDS = 0.03
FIRST_BATCH_ROWS = 2_000
MIN_BATCH_ROWS = 50
MAX_BATCH_ROWS = 50_000
# A batch grows by at most this factor: one lucky fast batch must not double the next one past
# the 100 ms goal on a busy server. It shrinks at once when a batch took too long.
MAX_GROWTH = 1.25
# Each deleted conversation costs a foreign-key check per referencing table, so it starts smaller.
FIRST_CONVERSATION_BATCH = 200
#: PostgreSQL cancels a batch's deleting statement after this long (the foreign-key checks run
#: inside it); the batch is rolled back and retried at a quarter of the size. A busy server
#: (a checkpoint, another process on the same cores) measured single batches at three to four
#: times their usual time; this keeps even those short. At 80 ms, two workers beside live chat on
#: two cores had transactions of up to 98 ms (the statement plus the batch's selection, hook and
#: rollback); at 60 ms, up to 58 ms.
STATEMENT_TIMEOUT_MS = 60
# A batch of the smallest size cancelled this many times in a row fails the run (the next run
# starts over).
MAX_CANCELLED = 3
# With several workers, each big table is cut into this many time ranges per worker, so that
# a worker done with its share takes over part of another's instead of waiting.
SLICES_PER_WORKER = 2
# SQLite has no arrays; ids go in chunks of bound parameters instead.
SQLITE_CHUNK = 500

#: The register's own tables, each purged by its own time.
REGISTER_MODELS: list[tuple[type[models.Model], str]] = [
    (Message, "created_at"),
    (PageVisit, "created_at"),
    (VisitorConnection, "created_at"),
    (HostContext, "created_at"),
]


class RetentionError(Exception):
    """The purge cannot proceed safely (e.g. a relation it does not know how to handle)."""


@dataclass
class PurgeOutcome:
    """What a purge run did. `status` is "done", "dry_run", "skipped" or "failed"."""

    status: str
    cutoff: datetime | None = None
    run: RetentionRun | None = None
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    longest_transaction_ms: float = 0.0
    error: str = ""
    #: erasure tombstones older than the backup rotation, dropped by this run
    #: (retention/tombstones.py)
    tombstones_pruned: int = 0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def register_models() -> list[tuple[type[models.Model], str]]:
    """Every register table with its time column: ours plus those other apps plug in."""
    steps = list(REGISTER_MODELS)
    for extra in hooks.call("retention_models"):
        for model, time_field in extra:
            if (model, time_field) not in steps:
                steps.append((model, time_field))
    return steps


def _housekeeping_steps(
    now: datetime, cutoff: datetime
) -> list[tuple[type[models.Model], str, Any]]:
    """Records about the register rather than in it, each with its own cutoff."""
    steps: list[tuple[type[models.Model], str, Any]] = []
    if apps.is_installed("django.contrib.sessions"):
        steps.append((apps.get_model("sessions", "Session"), "expire_date", now))
    if apps.is_installed("axes"):
        for name in ("AccessAttempt", "AccessLog", "AccessFailureLog"):
            steps.append((apps.get_model("axes", name), "attempt_time", cutoff))
    # The purge's own records hold counts only; they go with the audit trail they belong to.
    steps.append((AuditEvent, "created_at", audit_cutoff(now)))
    if apps.is_installed("django.contrib.admin"):
        # Django admin's own log names staff and the objects they changed: the audit's period.
        steps.append((apps.get_model("admin", "LogEntry"), "action_time", audit_cutoff(now)))
    steps.append((RetentionRun, "started_at", audit_cutoff(now)))
    return steps


# --- SQL helpers --------------------------------------------------------------------------------


def _sql(template: str, **identifiers: str) -> str:
    """Fills table and column names (quoted, from model metadata, never input) into `template`.

    A "{match}" placeholder is kept for `_execute_for_ids` to fill with the id condition.
    """
    quoted = {name: connection.ops.quote_name(value) for name, value in identifiers.items()}
    return template.format(match="{match}", **quoted)


def _array_type(field_: models.Field) -> str:
    # psycopg would send a list of Python ints as numeric[]; comparing a bigint key with numeric
    # casts the column and loses the index, so the array type is always spelled out.
    internal = field_.get_internal_type()
    if internal in ("BigAutoField", "BigIntegerField", "PositiveBigIntegerField"):
        return "bigint[]"
    if internal in ("AutoField", "IntegerField", "SmallAutoField", "PositiveIntegerField"):
        return "integer[]"
    return "text[]"


def _execute_for_ids(cursor, sql: str, ids: Sequence[Any], array_type: str) -> list[Any] | int:
    """Runs `sql` (with `{match}` where the id condition goes) for these ids.

    Returns the fetched first column for SELECTs, else the number of rows affected.
    """
    is_select = sql.lstrip().upper().startswith("SELECT")
    if connection.vendor == "postgresql":
        cursor.execute(sql.format(match=f"= ANY(%s::{array_type})"), [list(ids)])
        return [row[0] for row in cursor.fetchall()] if is_select else cursor.rowcount
    rows: list[Any] = []
    affected = 0
    for start in range(0, len(ids), SQLITE_CHUNK):
        chunk = ids[start : start + SQLITE_CHUNK]
        cursor.execute(sql.format(match=f"IN ({', '.join(['%s'] * len(chunk))})"), list(chunk))
        if is_select:
            rows.extend(row[0] for row in cursor.fetchall())
        else:
            affected += cursor.rowcount
    return rows if is_select else affected


def _select_ids(cursor, sql: str, ids: Sequence[Any], array_type: str) -> list[Any]:
    """The first column `sql` (a SELECT with `{match}`) returns for these ids."""
    rows = _execute_for_ids(cursor, sql, ids, array_type)
    if not isinstance(rows, list):
        raise TypeError("not a SELECT")
    return rows


def _reverse_relations(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    """Every foreign key pointing at `model`, including hidden ones (related_name="+" and
    the automatic tables of many-to-many fields)."""
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if isinstance(rel, models.ForeignObjectRel)
        and rel.auto_created
        and not rel.concrete
        and (rel.one_to_many or rel.one_to_one)
    ]


def _add(counts: dict[str, int], model: type[models.Model], n: int) -> None:
    if n:
        label = model._meta.label_lower
        counts[label] = counts.get(label, 0) + n


def _delete_ids(
    cursor, model: type[models.Model], ids: Sequence[Any], counts: dict[str, int], depth: int = 0
) -> int:
    """Deletes these rows of `model` and, first, what depends on them; adds to `counts`.

    Dependent rows follow each foreign key's on_delete: CASCADE deletes (recursively), SET_NULL
    clears the reference, DO_NOTHING is left to the database; anything else stops the purge.
    """
    if not ids:
        return 0
    if depth > 5:
        raise RetentionError(f"relations nest too deep below {model._meta.label}")
    # (model counted or None, statement with {match}) run for `ids`, dependants first.
    statements: list[tuple[type[models.Model] | None, str]] = []
    for rel in _reverse_relations(model):
        child = related_model(rel)
        names = {"table": child._meta.db_table, "fk": column(rel.field)}
        on_delete = rel.on_delete
        if on_delete is models.CASCADE:
            if _reverse_relations(child):
                child_ids = _select_ids(
                    cursor,
                    _sql(
                        "SELECT {pk} FROM {table} WHERE {fk} {match}",
                        pk=column(child._meta.pk),
                        **names,
                    ),
                    ids,
                    _array_type(model._meta.pk),
                )
                _delete_ids(cursor, child, child_ids, counts, depth + 1)
            else:
                statements.append((child, _sql("DELETE FROM {table} WHERE {fk} {match}", **names)))
        elif on_delete is models.SET_NULL:
            statements.append(
                (None, _sql("UPDATE {table} SET {fk} = NULL WHERE {fk} {match}", **names))
            )
        elif on_delete is models.DO_NOTHING:
            continue
        else:
            # PROTECT, RESTRICT, SET_DEFAULT, SET(...): deciding for them is not the purge's call.
            raise RetentionError(
                f"{child._meta.label}.{rel.field.name} uses {on_delete.__name__}; "
                "the purge only handles CASCADE, SET_NULL and DO_NOTHING"
            )
    own = _sql(
        "DELETE FROM {table} WHERE {pk} {match}",
        table=model._meta.db_table,
        pk=column(model._meta.pk),
    )
    statements.append((model, own))
    array_type = _array_type(model._meta.pk)
    if connection.vendor == "postgresql" and len(statements) > 1:
        # One round trip for the whole batch: data-modifying CTEs sharing one id array. The
        # foreign keys are checked at the end of the statement at the earliest (RESTRICT) or at
        # commit (deferred), so the order inside the statement is free.
        # Table and column names in `statements` come from model metadata, quoted by `_sql`.
        ctes = [f"ids AS (SELECT %s::{array_type} AS a)"]
        # The cast makes the array an expression (evaluated once, probing the index), not the
        # ANY(subquery) form that would compare each key with the whole array.
        match = f"= ANY((SELECT a FROM ids)::{array_type})"  # noqa: S608
        for i, (_, sql) in enumerate(statements):
            ctes.append(f"d{i} AS ({sql.format(match=match)} RETURNING 1)")
        counted = ", ".join(f"(SELECT count(*) FROM d{i})" for i in range(len(statements)))  # noqa: S608
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {counted}", [list(ids)])
        results = cursor.fetchone()
    else:
        results = [_execute_for_ids(cursor, sql, ids, array_type) for _, sql in statements]
    for (counted_model, _), n in zip(statements, results, strict=True):
        if counted_model is not None:
            _add(counts, counted_model, n)
    return results[-1]


# --- locking ------------------------------------------------------------------------------------


@contextmanager
def purge_lock() -> Iterator[bool]:
    """Yields True when this process may purge now, False when another run holds the lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        return
    import fcntl

    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        path = os.path.join(tempfile.gettempdir(), "helao-chat-purge.lock")
    else:
        path = f"{name}.purge.lock"
    # flock belongs to the open file, so two runs in one process exclude each other as well, and
    # a killed process releases it with its file descriptors.
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the purge ----------------------------------------------------------------------------------


class _BatchSize:
    """Grows or shrinks the batch so that one transaction takes about the target time."""

    def __init__(self, first: int, fixed: int | None) -> None:
        self.value = fixed or first
        self.fixed = fixed is not None

    def update(self, elapsed: float, full: bool) -> None:
        if self.fixed or not full:
            return
        factor = TARGET_BATCH_SECONDS / max(elapsed, 1e-4)
        factor = min(MAX_GROWTH, max(0.25, factor))
        self.value = int(min(MAX_BATCH_ROWS, max(MIN_BATCH_ROWS, self.value * factor)))

    def shrink(self) -> None:
        self.value = max(MIN_BATCH_ROWS, self.value // 4)


def _cancelled(exc: BaseException) -> bool:
    """Whether the database cancelled the statement for its statement_timeout."""
    cause = exc.__cause__
    return (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) == "57014"


def _batch_committed(label: str, rows: int) -> None:
    """Called after every committed batch; a seam for tests that kill a run midway."""


class _Purge:
    def __init__(self, *, batch_size: int | None, stop: threading.Event | None = None) -> None:
        self.batch_size = batch_size
        self.stop = stop
        self.counts: dict[str, int] = {}
        self.batches = 0
        self.longest = 0.0

    def merge(self, other: _Purge) -> None:
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        self.batches += other.batches
        self.longest = max(self.longest, other.longest)

    def by_time(
        self, model: type[models.Model], time_field: str, cutoff: Any, since: Any = None
    ) -> None:
        """Deletes rows of `model` whose `time_field` is before `cutoff`, batch by batch.

        `since` (PostgreSQL, tables nothing points at) leaves older rows to another worker.
        """
        postgres = connection.vendor == "postgresql"
        is_conversation = model is Conversation
        names = {
            "pk": column(model._meta.pk),
            "table": model._meta.db_table,
            "column": column(model._meta.get_field(time_field)),
        }
        # Ordered by the time column: a range scan of its index that stops after `n` rows.
        select = _sql(
            "SELECT {pk} FROM {table} WHERE {column} < %s ORDER BY {column} LIMIT %s", **names
        )
        # Rows nothing else points at go in one statement per batch.
        one_statement = not is_conversation and not _reverse_relations(model)
        if one_statement and postgres:
            # The batch is the first `n` rows of the time index's range; they are deleted by
            # their tuple ids, a direct heap access each (deleting them again through the
            # index range, or by primary key, costs a second index walk: ~35 % slower here).
            # The next batch starts after this one's last row (by time, then id for ties), so
            # it does not walk again over the index entries of the rows just deleted. A row
            # updated meanwhile has a new tuple id and is left for the next run.
            after = "AND {column} >= %(t)s AND ({column}, {pk}) > (%(t)s, %(k)s) "
            template = (
                "WITH batch AS MATERIALIZED (SELECT ctid AS c, {column} AS t, {pk} AS k "
                "FROM {table} WHERE {column} < %(cutoff)s {after}"
                "ORDER BY {column}, {pk} LIMIT %(n)s), "
                "edge AS (SELECT t, k FROM batch ORDER BY t DESC, k DESC LIMIT 1), "
                "gone AS (DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT c FROM batch)) "
                "RETURNING 1) "
                "SELECT (SELECT count(*) FROM gone), t, k FROM edge"
            )
            first = "AND {column} >= %(since)s " if since is not None else ""
            first_range = _sql(template.replace("{after}", first), **names)
            next_range = _sql(template.replace("{after}", after), **names)
            edge: tuple[Any, Any] | None = None
        elif since is not None:
            raise RetentionError(f"{model._meta.label} cannot be purged in time slices")
        elif one_statement:
            template = "DELETE FROM {table} WHERE {pk} IN ("
            statement = _sql(template, **names) + select + ")"
        if is_conversation and postgres:
            # A visitor resuming this very conversation waits for the batch (and then finds it
            # gone) instead of the purge deleting a message stored a moment after selection.
            select += " FOR UPDATE SKIP LOCKED"
        size = _BatchSize(
            FIRST_CONVERSATION_BATCH if is_conversation else FIRST_BATCH_ROWS, self.batch_size
        )
        # Raw SQL gets no field conversion: on SQLite an aware datetime would compare as local
        # wall-clock text against stored UTC text.
        bound = connection.ops.adapt_datetimefield_value(cutoff)
        since_bound = connection.ops.adapt_datetimefield_value(since)
        label = model._meta.label_lower
        cancelled = 0
        while True:
            if self.stop is not None and self.stop.is_set():
                return  # another worker failed; the run ends with its error
            started = time.monotonic()
            # Counted once the batch has committed: a cancelled batch deleted nothing.
            counts: dict[str, int] = {}
            next_edge = None
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    if one_statement and postgres:
                        params = {"cutoff": bound, "n": size.value, "since": since_bound}
                        if edge is not None:
                            params.update(t=edge[0], k=edge[1])
                        _limit_statement(cursor)
                        cursor.execute(first_range if edge is None else next_range, params)
                        found = cursor.fetchone()
                        rows = found[0] if found else 0
                        next_edge = (found[1], found[2]) if found else None
                        _add(counts, model, rows)
                    elif one_statement:
                        cursor.execute(statement, [bound, size.value])
                        rows = cursor.rowcount
                        _add(counts, model, rows)
                    else:
                        cursor.execute(select, [bound, size.value])
                        ids = [row[0] for row in cursor.fetchall()]
                        rows = len(ids)
                        if ids and is_conversation:
                            # Inside the batch's transaction: the aggregates and the deletion
                            # commit together, so a killed run never counts a conversation twice.
                            hooks.call("retention_before_delete", conversation_ids=ids)
                        if ids:
                            # The checks of the deferred foreign keys run in the statement
                            # (same cost as at commit), so its timeout covers them too.
                            _limit_statement(cursor, checks_now=True)
                        _delete_ids(cursor, model, ids, counts)
            except OperationalError as exc:
                self.longest = max(self.longest, time.monotonic() - started)
                if not _cancelled(exc) or (
                    size.value <= MIN_BATCH_ROWS and cancelled >= MAX_CANCELLED
                ):
                    raise
                cancelled = cancelled + 1 if size.value <= MIN_BATCH_ROWS else 0
                logger.info(
                    "retention purge: %s batch of %d cancelled, retrying smaller", label, size.value
                )
                size.shrink()
                continue
            elapsed = time.monotonic() - started
            # Every transaction counts, the last one that finds nothing too.
            self.longest = max(self.longest, elapsed)
            cancelled = 0
            if one_statement and postgres:
                edge = next_edge
            for name, n in counts.items():
                self.counts[name] = self.counts.get(name, 0) + n
            if not rows:
                return
            self.batches += 1
            _batch_committed(label, rows)
            full = rows >= size.value
            size.update(elapsed, full)
            if not full:
                return


#: (model, time field, cutoff, since): rows with since <= time < cutoff (since None: all older).
Step = tuple[type[models.Model], str, Any, Any]


def _workers() -> int:
    """How many connections delete at once: 1 on SQLite and inside a caller's transaction."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, int(settings.CHAT_PURGE_WORKERS))


def _session_setup() -> str | None:
    """Returns the caller's statement_timeout when the run is inside the caller's transaction
    (see `_session_reset`), else None."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        # Losing the last batches to a server crash is harmless (the next run deletes them
        # again), so the purge's commits do not wait for the WAL flush.
        cursor.execute("SET synchronous_commit TO OFF")
        if not connection.in_atomic_block:
            return None
        cursor.execute("SELECT current_setting('statement_timeout')")
        return cursor.fetchone()[0]


def _session_reset(caller_timeout: str | None) -> None:
    """Undoes `_session_setup`, and inside a caller's transaction also what the batches set.

    A batch's `SET LOCAL statement_timeout` (60 ms) and `SET CONSTRAINTS ALL IMMEDIATE` end with
    its transaction. Inside a caller's transaction a batch is only a savepoint, and both would
    last until the caller's transaction ends: every later statement of the caller cancelled
    after 60 ms (the admin page after a purge in a test, on a busy machine).
    """
    if connection.vendor == "postgresql":
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
            if caller_timeout is not None:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [caller_timeout])
                # Every deferrable constraint of the schema is initially deferred (Django's
                # foreign keys), so this is the mode the caller's transaction started with.
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _run_steps(purge: _Purge, steps: list[Step], workers: int) -> None:
    """Runs `steps` (see `Step`) on `workers` connections; adds up their counts into `purge`.

    Each worker thread takes the next step nobody has started, on its own connection, until
    none is left. A step listed twice is worked on by two workers at once: for conversations,
    whose batches skip rows another worker holds. The first error stops the other workers
    after their current batch and is raised once all have stopped.
    """
    if workers <= 1 or len(steps) <= 1:
        for step in steps:
            purge.by_time(*step)
        return
    pending: queue.SimpleQueue[Step] = queue.SimpleQueue()
    for step in steps:
        pending.put(step)
    stop = threading.Event()
    shares = [
        _Purge(batch_size=purge.batch_size, stop=stop) for _ in range(min(workers, len(steps)))
    ]

    def work(share: _Purge) -> None:
        try:
            _session_setup()
            while not stop.is_set():
                try:
                    step = pending.get_nowait()
                except queue.Empty:
                    return
                share.by_time(*step)
        except BaseException:
            stop.set()
            raise
        finally:
            # This thread's connection only; the next run's workers open their own.
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix="purge") as pool:
        futures = [pool.submit(work, share) for share in shares]
    for share in shares:
        purge.merge(share)
    for future in futures:
        future.result()  # the first worker's error, if any


def _time_slices(model: type[models.Model], time_field: str, cutoff: Any, n: int) -> list[Step]:
    """The expired rows of `model` as `n` consecutive time ranges, oldest first.

    So that several workers share one big table (each range is a range of the time index);
    the ranges are equal spans of time, and workers that finish early take the next range.
    """
    if n <= 1 or _reverse_relations(model):  # several workers: PostgreSQL only
        return [(model, time_field, cutoff, None)]
    oldest = model._default_manager.filter(**{f"{time_field}__lt": cutoff}).aggregate(
        oldest=models.Min(time_field)
    )["oldest"]
    if oldest is None:
        return [(model, time_field, cutoff, None)]
    span = (cutoff - oldest) / n
    bounds = [oldest + span * i for i in range(1, n)]
    return [
        (model, time_field, end, start)
        for start, end in zip([None, *bounds], [*bounds, cutoff], strict=True)
    ]


def _limit_statement(cursor, *, checks_now: bool = False) -> None:
    """On PostgreSQL, lets the rest of this transaction's statements run STATEMENT_TIMEOUT_MS."""
    if connection.vendor != "postgresql":
        return
    limit = f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}"
    cursor.execute(f"{limit}; SET CONSTRAINTS ALL IMMEDIATE" if checks_now else limit)


def _dry_run_counts(now: datetime, cutoff: datetime) -> dict[str, int]:
    """What a real run would delete now, counted without deleting."""
    counts: dict[str, int] = {}
    expired_conversations = Conversation.objects.filter(last_activity_at__lt=cutoff)
    counts[Conversation._meta.label_lower] = expired_conversations.count()
    seen: set[type[models.Model]] = set()
    for model, time_field in register_models():
        seen.add(model)
        condition = models.Q(**{f"{time_field}__lt": cutoff})
        for rel in _reverse_relations(Conversation):
            if related_model(rel) is model:
                condition |= models.Q(**{f"{rel.field.name}__in": expired_conversations})
        counts[model._meta.label_lower] = model._default_manager.filter(condition).count()
    for rel in _reverse_relations(Conversation):
        model = related_model(rel)
        if model not in seen and rel.on_delete is models.CASCADE:
            seen.add(model)
            n = model._default_manager.filter(
                **{f"{rel.field.name}__in": expired_conversations}
            ).count()
            counts[model._meta.label_lower] = n
    for model, time_field, model_cutoff in _housekeeping_steps(now, cutoff):
        counts[model._meta.label_lower] = model._default_manager.filter(
            **{f"{time_field}__lt": model_cutoff}
        ).count()
    counts.update(_staff_records(now, dry_run=True))
    return {label: n for label, n in counts.items() if n}


def _staff_records(now: datetime, *, dry_run: bool = False) -> dict[str, int]:
    """Records about staff past the audit log's period lose what names a person (the apps that
    keep such records do it; see hooks `retention_staff_records`). Rows changed per table."""
    counts: dict[str, int] = {}
    for changed in hooks.call("retention_staff_records", cutoff=audit_cutoff(now), dry_run=dry_run):
        for label, n in changed.items():
            counts[label] = counts.get(label, 0) + n
    return counts


def purge_expired(
    *, dry_run: bool = False, now: datetime | None = None, batch_size: int | None = None
) -> PurgeOutcome:
    """Deletes every record past its retention period and records the run.

    The apps prepare first (`retention_models`: feedback folds finished days). Then every row
    older than the period goes by its own time; then the conversations whose last activity is
    past the period, each batch with whatever still hangs off it, in the transaction in which
    `retention_before_delete` folds them into aggregates (so exactly once); then expired
    sessions, old login attempts, audit events and Django admin's log past their own period, and
    the apps fold what they keep about staff past that period (`retention_staff_records`:
    feedback's per-agent statistics lose the agent's name). Returns "skipped" when
    another run holds the lock. A failing run is recorded with its error and the exception is
    re-raised.
    """
    now = now or timezone.now()
    cutoff = retention_cutoff(now)
    with purge_lock() as acquired:
        if not acquired:
            logger.info("retention purge skipped: another run is in progress")
            return PurgeOutcome(status="skipped", cutoff=cutoff)
        run = RetentionRun.objects.create(started_at=timezone.now(), cutoff=cutoff, dry_run=dry_run)
        outcome = PurgeOutcome(status="dry_run" if dry_run else "done", cutoff=cutoff, run=run)
        purge = _Purge(batch_size=batch_size)
        caller_timeout = None
        try:
            caller_timeout = _session_setup()
            if dry_run:
                outcome.deleted = _dry_run_counts(now, cutoff)
            else:
                workers = _workers()
                # Asked first: providers prepare here (feedback folds every finished day, each
                # in its own short transaction) before anything is deleted.
                slices = SLICES_PER_WORKER * workers if workers > 1 else 1
                steps = [
                    step
                    for model, time_field in register_models()
                    for step in _time_slices(model, time_field, cutoff, slices)
                ]
                # Every row by its own time first, by ranges of its time index (the tables and
                # slices of them side by side); then the conversations, which by now have
                # (almost) nothing left hanging off them, by every worker at once.
                _run_steps(purge, steps, workers)
                conversations = (Conversation, "last_activity_at", cutoff, None)
                _run_steps(purge, [conversations] * workers, workers)
                housekeeping = [(*step, None) for step in _housekeeping_steps(now, cutoff)]
                _run_steps(purge, housekeeping, 1)
                outcome.deleted = {**purge.counts, **_staff_records(now)}
                outcome.tombstones_pruned = _prune_tombstones(now)
        except Exception as exc:
            _session_reset(caller_timeout)
            outcome.status = "failed"
            outcome.deleted = dict(purge.counts)
            # The class and database message only: they carry ids at most, never register data.
            outcome.error = f"{type(exc).__name__}: {exc}"[:1000]
            logger.error(
                "retention purge failed after %d batches: %s", purge.batches, type(exc).__name__
            )
            try:
                _finish(run, outcome, purge)
            except DatabaseError:
                # The database is what failed; the run stays unfinished, which status shows.
                logger.error("retention purge: could not record the failed run")
            raise
        finally:
            _session_reset(caller_timeout)
        _finish(run, outcome, purge)
    logger.info(
        "retention purge %s: %d rows in %d batches, longest transaction %.1f ms",
        outcome.status,
        outcome.total,
        outcome.batches,
        outcome.longest_transaction_ms,
    )
    return outcome


def _prune_tombstones(now: datetime) -> int:
    """Erasure tombstones outlive no backup: those older than the rotation go with the purge.
    A storage failure there is logged and leaves the tombstones for the next run."""
    from .tombstones import tombstones_prune

    try:
        return tombstones_prune(now)
    except OSError as exc:
        logger.error("erasure tombstones could not be pruned: %s", type(exc).__name__)
        return 0


def _finish(run: RetentionRun, outcome: PurgeOutcome, purge: _Purge) -> None:
    from chat.services import audit_record

    outcome.batches = purge.batches
    outcome.longest_transaction_ms = round(purge.longest * 1000, 1)
    run.deleted = outcome.deleted
    run.error = outcome.error
    run.succeeded = outcome.status in ("done", "dry_run")
    run.finished_at = timezone.now()
    run.save(update_fields=["deleted", "error", "succeeded", "finished_at"])
    # Counts only: the audit trail says that the purge ran and how much it removed.
    audit_record(
        action=AuditEvent.Action.PURGE_RUN,
        object_ref=f"retention-run:{run.pk}",
        detail={
            "dry_run": run.dry_run,
            "succeeded": run.succeeded,
            "deleted": outcome.deleted,
            "cutoff": outcome.cutoff.isoformat() if outcome.cutoff else None,
        },
    )
