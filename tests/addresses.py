"""Where the services the tests need are: taken from DATABASE_URL and REDIS_URL when set (CI and
the README set them), else PostgreSQL and Redis on this machine's standard ports."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
_database = os.environ.get("DATABASE_URL", "")
_pg = urlsplit(
    _database if _database.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/"
)

REDIS_HOST = urlsplit(REDIS_URL).hostname or "127.0.0.1"
REDIS_PORT = urlsplit(REDIS_URL).port or 6379
PG_HOST = _pg.hostname or "127.0.0.1"
PG_PORT = _pg.port or 5432
_PG_USER = _pg.username or "postgres"
_PG_AUTH = f"{_PG_USER}:{_pg.password}" if _pg.password else _PG_USER


def pg_url(database: str, *, host: str = PG_HOST, port: int = PG_PORT) -> str:
    """A PostgreSQL URL for `database` on the test server (or through a proxy at host:port)."""
    return f"postgresql://{_PG_AUTH}@{host}:{port}/{database}"


PG_ADMIN = pg_url("postgres")

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now, never one this test process handed out before:
    the kernel may give the same free port to two calls in a row, and two servers of one test
    (e.g. nginx's health and redirect listeners) would then share it."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
