"""A restore from a real pg_dump backup: an erased chat and an expired one stay gone.

The test database itself is the production stand-in: a backup is taken with pg_dump, one chat is
erased afterwards (its tombstone is written outside the database), the database is dropped,
created again and restored from the dump, and `manage.py replay_erasures` runs as the restore
procedure in docs/operations.md says.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from chat import data_requests as dsr
from chat import tombstones
from chat.models import Conversation
from tests.chat.test_data_requests import full_conversation
from tests.faults.pg_standby import pg_bin

pytestmark = pytest.mark.django_db(transaction=True)

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


def everything_stored() -> str:
    """Every row of every table, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 (our own tables)
            rows += [r[0] for r in cursor.fetchall()]
    return "\n".join(rows)


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

    # The restore: the database is dropped and created again from the backup.
    connections.close_all()
    pg("psql", "-d", "postgres", "-c", f'DROP DATABASE "{name}" WITH (FORCE)')
    pg("psql", "-d", "postgres", "-c", f'CREATE DATABASE "{name}"')
    pg("pg_restore", "--no-owner", "-d", name, str(backup))
    assert Conversation.objects.filter(pk__in=[erased.pk, expired.pk]).count() == 2
    assert ERASED["text"] in everything_stored()

    out = StringIO()
    call_command("replay_erasures", stdout=out)
    assert "erased again 1 restored conversation(s)" in out.getvalue()

    assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.pk]
    stored = everything_stored()
    for data in (ERASED, EXPIRED):
        for value in data.values():
            assert value not in stored
    assert KEPT["text"] in stored
    for rel in Conversation._meta.related_objects:
        model = rel.related_model
        assert not model.objects.filter(**{f"{rel.field.name}__in": [erased.pk, expired.pk]})

    # The tombstone names the chat and when, nothing of what it said.
    kept_stones = tombstones.tombstone_path().read_text(encoding="utf-8")
    assert reference in kept_stones
    for data in (ERASED, EXPIRED, KEPT):
        for value in data.values():
            assert value not in kept_stones

    # Run again (say, by an operator unsure whether it finished): nothing more happens.
    again = StringIO()
    call_command("replay_erasures", stdout=again)
    assert "erased again 0 restored conversation(s)" in again.getvalue()
    assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.pk]
