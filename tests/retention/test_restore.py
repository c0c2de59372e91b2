"""A restore from a real pg_dump backup: an erased chat and an expired one stay gone.

A backup of the test database is taken with pg_dump, one chat is erased afterwards (its tombstone
is written outside the database), the backup is restored into a database of its own, and
`manage.py replay_erasures` runs against it, as a separate server process would after a restore
(docs/operations.md). The test database itself is never dropped: every other test's connections
stay good.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from chat.models import Conversation
from dsr import data_requests as dsr
from retention import tombstones
from tests.addresses import pg_url
from tests.dsr.test_data_requests import full_conversation
from tests.faults.pg_standby import pg_bin

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
ERASED = {"text": "Erase me: my passport is AB1234567", "ip": "198.51.100.71", "comment": "E-c"}
EXPIRED = {"text": "Old question about the library card", "ip": "198.51.100.72", "comment": "X-c"}
KEPT = {"text": "A recent question that stays", "ip": "198.51.100.73", "comment": "K-c"}


def chat(data: dict[str, str], *, days_ago: int) -> Conversation:
    return full_conversation(
        text=data["text"],
        ip=data["ip"],
        comment=data["comment"],
        url=f"https://www.example.org/{data['comment']}/",
        started=timezone.now() - timedelta(days=days_ago),
    )


def pg(program: str, *args: str) -> None:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    where = ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432)]
    where += ["-U", db.get("USER") or "postgres"]
    subprocess.run([pg_bin(program), *where, *args], env=env, check=True, capture_output=True)


def everything_stored(database: str) -> str:
    """Every row of every table of `database`, as text."""
    rows = []
    with psycopg.connect(pg_url(database)) as db:
        tables = db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            query = f'SELECT t::text FROM "{table}" t'  # noqa: S608 (our own tables)
            rows += [r[0] for r in db.execute(query).fetchall()]
    return "\n".join(rows)


def query(database: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(pg_url(database)) as db:
        return db.execute(sql, params).fetchall()


def replay(database: str, tombstone_dir: str) -> str:
    """`manage.py replay_erasures` against the restored database, as its server would run it."""
    env = {
        **os.environ,
        "DATABASE_URL": pg_url(database),
        "CHAT_TOMBSTONE_DIR": tombstone_dir,
        "CHAT_RETENTION_MONTHS": "3",
        "DJANGO_SETTINGS_MODULE": "helao_chat.settings",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "replay_erasures"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def test_an_erased_chat_and_an_expired_one_stay_gone_after_a_restore(tmp_path: Path, settings):
    if connection.vendor != "postgresql":
        pytest.fail("the restore test needs PostgreSQL (DATABASE_URL)")
    settings.CHAT_RETENTION_MONTHS = 3
    erased = chat(ERASED, days_ago=5)
    expired = chat(EXPIRED, days_ago=200)
    kept = chat(KEPT, days_ago=2)
    reference = erased.reference

    backup = tmp_path / "chat.dump"
    name = connection.settings_dict["NAME"]
    pg("pg_dump", "--format=custom", f"--file={backup}", name)

    dsr.visitor_data_erase(conversation=erased, request_id="DSR-2026-031", actor_name="manage.py")
    assert [s["reference"] for s in tombstones.tombstones()] == [reference]

    # The restore, into a database of its own.
    restored = f"{name}_restored"
    pg("psql", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
    pg("psql", "-d", "postgres", "-c", f'CREATE DATABASE "{restored}"')
    try:
        pg("pg_restore", "--no-owner", "-d", restored, str(backup))
        gone = [erased.pk, expired.pk]
        sql = "SELECT count(*) FROM chat_conversation WHERE id = ANY(%s)"
        assert query(restored, sql, gone) == [(2,)]
        assert ERASED["text"] in everything_stored(restored)

        out = replay(restored, settings.CHAT_TOMBSTONE_DIR)
        assert "erased again 1 restored conversation(s)" in out

        assert query(restored, "SELECT id FROM chat_conversation") == [(kept.pk,)]
        stored = everything_stored(restored)
        for data in (ERASED, EXPIRED):
            for value in data.values():
                assert value not in stored
        assert KEPT["text"] in stored
        for rel in Conversation._meta.related_objects:
            table, column = rel.related_model._meta.db_table, rel.field.column
            sql = f'SELECT count(*) FROM "{table}" WHERE "{column}" = ANY(%s)'  # noqa: S608
            assert query(restored, sql, gone) == [(0,)], table

        # The tombstone names the chat and when, nothing of what it said.
        kept_stones = tombstones.tombstone_path().read_text(encoding="utf-8")
        assert reference in kept_stones
        for data in (ERASED, EXPIRED, KEPT):
            for value in data.values():
                assert value not in kept_stones

        # Run again (say, by an operator unsure whether it finished): nothing more happens.
        again = replay(restored, settings.CHAT_TOMBSTONE_DIR)
        assert "erased again 0 restored conversation(s)" in again
        assert query(restored, "SELECT id FROM chat_conversation") == [(kept.pk,)]
    finally:
        pg("psql", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
