"""Units of work on the database threads: a connection in steady use is not health-checked
before every unit (one more round trip each), and one that failed is replaced."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DatabaseError, connection, connections

from realtime import units

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _query() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One database thread whose connection persists, as in production (the tests' own close
    after every unit), closed at the end so that the test database can be dropped."""
    executor = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(units, "DB_EXECUTOR", executor)
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    yield
    executor.submit(connections.close_all).result()
    executor.shutdown()


@pytest.fixture
def checks(monkeypatch):
    """Counts Django's health checks (`is_usable`, a `SELECT 1` of its own)."""
    counted: list[int] = []
    kind = type(connections["default"])
    plain = kind.is_usable

    def is_usable(self):
        counted.append(1)
        return plain(self)

    monkeypatch.setattr(kind, "is_usable", is_usable)
    return counted


async def _units(n: int) -> None:
    for _ in range(n):
        assert await units.run_unit(_query) == 1


async def test_units_in_steady_use_are_not_each_preceded_by_a_health_check(checks):
    await _units(20)
    assert len(checks) <= 1  # the first unit's, if the thread had been idle


async def test_without_the_idle_allowance_every_unit_is_checked(checks, monkeypatch):
    monkeypatch.setattr(units, "CHECK_AFTER_IDLE_SECONDS", 0.0)
    await _units(20)
    assert len(checks) >= 19  # all but the first, which connected


def _fail_then_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


async def test_a_unit_whose_connection_died_fails_and_the_next_one_connects_again():
    await _units(2)
    # The connection dies under the thread, as when the database restarts.
    with pytest.raises(DatabaseError):
        await units.run_unit(_fail_then_query)
    await _units(2)
