"""Queries built with the ORM, compiled to SQL once per process, run again with new values.

Building a query is most of what a short read costs the ORM: resolving lookups and `Q` objects,
joins and aliases, then compiling them took 0.5 to 4 ms of CPU for the reads on a socket's way in,
ten times the round trip to PostgreSQL. A reconnect storm runs them thousands of times with
only the values changed. `Prepared` builds the queryset once with placeholder values, compiles
it, and from then on puts each call's values where the placeholders were; the rows come back
through the ORM's own iterable (model instances with their `select_related` rows, values or
flat values), with the same converters.

Only what is a parameter can change between calls: a value whose shape changes the SQL (a list
for `__in`, `None` for `IS NULL`, another ordering) is another query (its own `Prepared`). The
placeholders must reach the SQL as they were given (a time as the backend stores it): a lookup
that rewrites them (`contains`, a date truncated) is refused when the query is compiled.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler

#: Placeholder values by type: never a real primary key, hash, name or time.
_PLACEHOLDER_INT = -7_654_000
_PLACEHOLDER_STR = "\x1fprepared-placeholder-{}\x1f"
_PLACEHOLDER_TIME = datetime(1111, 11, 11, 11, 11, 11, tzinfo=UTC)


def _placeholder(kind: type, index: int) -> Any:
    if kind is int:
        return _PLACEHOLDER_INT - index
    if kind is str:
        return _PLACEHOLDER_STR.format(index)
    if kind is datetime:
        return _PLACEHOLDER_TIME.replace(microsecond=index)
    raise TypeError(f"a prepared query takes int, str or datetime values, not {kind.__name__}")


def _as_given(value: Any) -> Any:
    return value


class _Compiled:
    """One database's compiled form of a `Prepared`: the SQL, the parameters with the
    placeholders' places, and the compiler that read the rows' columns (its `select`)."""

    def __init__(self, queryset: QuerySet, alias: str, placeholders: tuple[Any, ...]) -> None:
        compiler = queryset.query.get_compiler(using=alias)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        # (parameter index, value index, how the value becomes the parameter)
        self.slots: list[tuple[int, int, Callable[[Any], Any]]] = []
        ops = connections[alias].ops
        for index, placeholder in enumerate(placeholders):
            adapt = _as_given
            places = [i for i, param in enumerate(self.params) if param == placeholder]
            if not places and isinstance(placeholder, datetime):
                # Backends that store times as text get them as the backend writes them.
                adapt = ops.adapt_datetimefield_value
                stored = adapt(placeholder)
                places = [i for i, param in enumerate(self.params) if param == stored]
            if not places:
                raise ValueError(
                    f"value {index} of the prepared query does not reach its SQL as given"
                )
            self.slots.extend((place, index, adapt) for place in places)
        self.queryset = queryset
        # Shared by every run's compiler (see `_prepared_compiler`).
        compiler.prepared_converters = {}
        self.compiler = compiler
        kind: Any = type(compiler)
        self.compiler_class: Any = _prepared_compiler(kind)

    def params_for(self, values: tuple[Any, ...]) -> list[Any]:
        params = list(self.params)
        for place, index, adapt in self.slots:
            params[place] = adapt(values[index])
        return params

    def run(self, alias: str, values: tuple[Any, ...]) -> list[Any]:
        """The rows for `values`, on this thread's connection, through the ORM's iterable."""
        compiler = self.compiler_class.__new__(self.compiler_class)
        compiler.__dict__.update(self.compiler.__dict__)
        compiler.connection = connections[alias]
        compiler.prepared = (self.sql, self.params_for(values))
        base: Any = self.queryset
        query: Any = _Query(base.query, compiler)
        run: Any = QuerySet(model=base.model, query=query, using=alias)
        run._iterable_class = base._iterable_class
        run._fields = base._fields
        run._prefetch_related_lookups = base._prefetch_related_lookups
        return list(run)


#: A compiled query keeps the converters of at most this many (connection, columns) pairs: one
#: per thread that runs it, in practice (the database threads and a few of the server's).
_CONVERTERS_KEPT = 64


@functools.cache
def _prepared_compiler(cls: type[SQLCompiler]) -> type[SQLCompiler]:
    """`cls` answering `as_sql` with the SQL and parameters it was given, and `get_converters`
    with the converters it found the first time for the same columns on the same connection.

    The ORM looks up every column's converters again on each run (the backend's and the
    field's, for each of a model's and its `select_related` rows' columns): keeping them took
    about a quarter off a resuming visitor's chat read. The columns are the compiled query's own
    (`select`, shared by every run), so the lookup's answer does not change between runs."""

    def as_sql(self, *args: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        return self.prepared

    def get_converters(self, expressions: Any) -> dict[int, Any]:
        kept: dict[tuple[int, ...], dict[int, Any]] = self.prepared_converters
        key = (id(self.connection), *map(id, expressions))
        found = kept.get(key)
        if found is None:
            found = cls.get_converters(self, expressions)
            if len(kept) >= _CONVERTERS_KEPT:
                kept.clear()
            # The columns are the compiled query's own, alive as long as it is. A converter
            # bound to its connection (a backend's) keeps that alive, so its id is no other's;
            # the others take the connection as an argument and serve any connection alike.
            kept[key] = found
        return found

    return type(
        f"Prepared{cls.__name__}",
        (cls,),
        {"as_sql": as_sql, "get_converters": get_converters},
    )


class _Query:
    """What the ORM's iterables ask of a query, with the compiler of one call."""

    def __init__(self, query: Any, compiler: SQLCompiler) -> None:
        self._query = query
        self._compiler = compiler

    def get_compiler(self, using: str | None = None, *args: Any, **kwargs: Any) -> SQLCompiler:
        return self._compiler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


class Prepared:
    """`build(*values)` (a queryset) compiled once per process and database.

    `kinds` are the values' types (int, str or an aware datetime), in `build`'s order.
    `fetch(*values)` returns the rows as a list, as `list(build(*values))` would;
    `sql(*values)` the SQL and its parameters, for a connection outside the ORM (the event
    loop's own).
    """

    def __init__(self, build: Callable[..., QuerySet], *kinds: type) -> None:
        self.build = build
        self.placeholders = tuple(_placeholder(kind, i) for i, kind in enumerate(kinds))
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, alias: str = DEFAULT_DB_ALIAS) -> _Compiled:
        found = self._compiled.get(alias)
        if found is None:
            with self._lock:
                found = self._compiled.get(alias)
                if found is None:
                    queryset = self.build(*self.placeholders)
                    found = self._compiled[alias] = _Compiled(queryset, alias, self.placeholders)
        return found

    def fetch(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> list[Any]:
        return self.compiled(using).run(using, values)

    def first(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> Any:
        """The first row, or None (the query's own LIMIT, if any, is what it is)."""
        rows = self.fetch(*values, using=using)
        return rows[0] if rows else None

    def sql(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> tuple[str, list[Any]]:
        compiled = self.compiled(using)
        return compiled.sql, compiled.params_for(values)
