"""DATABASE_REPLICA_URL with a real streaming standby (pg_basebackup): the history and the reports
read from the standby, while it is usable; the need-to-know rule is checked on the primary, so an
erasure shows at once even where the standby has not replayed it; a lagging or stopped standby
sends those reads to the primary, with a log line and no error page; a standby lost in the middle
of a read has that read done again on the primary.

The standby's replay is paused to hold it behind the primary (`pg_wal_replay_pause`): what it
then shows differs from the primary, which tells which of the two served a page. Daphne process 0
accepts an hour of lag, process 1 one second.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import time
import urllib.request

import psycopg
import pytest

from chat.replica import LAG_SQL

from .numbered import open_chats
from .pg_standby import PostgresPair
from .stack import ROOT, Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]


# Reads the references through replica_read, pausing after the standby was found usable until
# the test has stopped the standby: the query then fails on the standby and runs on the primary.
READER = """
import sys, django
django.setup()
from chat.models import Conversation
from chat.replica import replica_read
calls = []
def references():
    calls.append(1)
    if len(calls) == 1:
        print("reading on the replica", flush=True)
        sys.stdin.readline()
    return list(Conversation.objects.values_list("reference", flat=True))
print(" ".join(replica_read(references, what="the test's read")), flush=True)
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pgreplica")
    # Asynchronous, as read replicas often are: the primary does not wait for a stopped standby.
    pair = PostgresPair(synchronous=False)
    try:
        stack = Stack(
            tmp,
            env={"DATABASE_REPLICA_URL": pair.url("{db}", pair.standby_port)},
            database=(pair.url("postgres", pair.primary_port), pair.url("{db}", pair.primary_port)),
            process_env=[
                {"DATABASE_REPLICA_MAX_LAG_SECONDS": "3600"},
                {"DATABASE_REPLICA_MAX_LAG_SECONDS": "1"},
            ],
        )
    except BaseException:
        pair.stop()
        raise
    try:
        yield stack, pair
    finally:
        stack.stop()
        pair.stop()


def _get(stack: Stack, index: int, path: str, cookie: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.ports[index]}{path}", headers={"Cookie": cookie}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return response.read().decode()


def _listed(stack: Stack, index: int, cookie: str) -> set[str]:
    """The references on the first page of the history, as process `index` shows it."""
    page = _get(stack, index, "/console/history/", cookie)
    return {ref for ref in stack.references if f"/console/history/{ref}/" in page}


def _chats_in_report(stack: Stack, index: int, cookie: str) -> int:
    rows = list(csv.reader(io.StringIO(_get(stack, index, "/reports/report.csv", cookie))))
    total = next(row for row in rows if row[0] == "TOTAL")
    return int(total[rows[0].index("chats")])


def _health(stack: Stack, index: int) -> tuple[int, str, str]:
    """/healthz of process `index`: (HTTP status, status, database_replica)."""
    url = f"http://127.0.0.1:{stack.ports[index]}/healthz"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
        return response.status, body["status"], body["database_replica"]


def _standby(pair: PostgresPair, stack: Stack, sql: str, *params):
    with psycopg.connect(pair.url(stack.db, pair.standby_port), autocommit=True) as c:
        return c.execute(sql, params).fetchone()[0]


async def _new_chats(stack: Stack, cookie: str, count: int) -> list[str]:
    a = stack.ports[0]
    chat = await open_chats(
        count=count,
        visitor_url=lambda: f"ws://127.0.0.1:{a}/ws/visitor/",
        agent_url=lambda: f"ws://127.0.0.1:{a}/ws/agent/",
        origin=None,
        cookie=cookie,
    )
    with psycopg.connect(stack.database_url) as c:
        rows = c.execute(
            "SELECT reference FROM chat_conversation WHERE id = ANY(%s) ORDER BY id",
            (chat.agent.conversations,),
        ).fetchall()
    references = [row[0] for row in rows]
    stack.references.update(references)
    return references


def _erase(stack: Stack, reference: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "visitor_data", "erase", "--reference", reference,
         "--request-id", "replica-test", "--yes"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.1)


async def test_history_and_reports_read_from_the_standby_and_fall_back_to_the_primary(
    deployment,
):
    stack, pair = deployment
    stack.references = set()
    agent = await asyncio.to_thread(stack.login, "agent")
    director = await asyncio.to_thread(stack.login, "director")
    kept, erased = await _new_chats(stack, agent, 2)
    await asyncio.to_thread(pair.wait_replicated, stack.db)
    before = await asyncio.to_thread(_chats_in_report, stack, 0, director)

    # The standby stops replaying: two new chats and an erasure reach only the primary.
    await asyncio.to_thread(_standby, pair, stack, "SELECT pg_wal_replay_pause()::text")
    new = await _new_chats(stack, agent, 2)
    await asyncio.to_thread(_erase, stack, erased)
    assert _standby(pair, stack, "SELECT count(*) FROM chat_conversation WHERE reference = %s",
                    erased) == 1  # fmt: skip

    # Process 0 (an hour of lag allowed) reads from the standby: the new chats are not there
    # yet; the erased one is, but the primary's need-to-know check leaves it out.
    listed = await asyncio.to_thread(_listed, stack, 0, director)
    assert listed == {kept}
    assert await asyncio.to_thread(_chats_in_report, stack, 0, director) == before

    # Process 1 (one second allowed) finds the standby lagging and reads from the primary.
    _until(lambda: (_standby(pair, stack, LAG_SQL) or 0) > 1, "the standby to be a second behind")
    assert await asyncio.to_thread(_listed, stack, 1, director) == {kept, *new}
    assert await asyncio.to_thread(_chats_in_report, stack, 1, director) == before - 1 + 2
    assert await asyncio.to_thread(_listed, stack, 1, director) == {kept, *new}
    assert stack.log(1).count("database replica lagging") == 1, "logged once, not per page"
    assert "database replica" not in stack.log(0)
    assert _health(stack, 0) == (200, "ok", "ok")
    assert _health(stack, 1) == (200, "degraded", "lagging")

    # Replaying again, the standby shows what the primary has.
    await asyncio.to_thread(_standby, pair, stack, "SELECT pg_wal_replay_resume()::text")
    await asyncio.to_thread(pair.wait_replicated, stack.db)
    assert await asyncio.to_thread(_listed, stack, 0, director) == {kept, *new}

    # The standby goes down in the middle of a read: the read is done again on the primary.
    reader = subprocess.Popen(
        [sys.executable, "-c", READER],
        cwd=ROOT,
        env=stack.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert await asyncio.to_thread(reader.stdout.readline) == "reading on the replica\n"
        await asyncio.to_thread(pair.stop_standby)
        out, err = await asyncio.to_thread(reader.communicate, "go on\n", 60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait(10)
    assert reader.returncode == 0, err
    assert set(out.split()) >= {kept, *new} and erased not in out.split()
    assert "database replica failed a read (OperationalError)" in err

    # The standby stays down: the pages still answer, from the primary, and say so in the log.
    assert await asyncio.to_thread(_listed, stack, 0, director) == {kept, *new}
    assert await asyncio.to_thread(_chats_in_report, stack, 0, director) == before + 1
    assert "database replica unreachable" in stack.log(0)
    assert _health(stack, 0) == (200, "degraded", "unreachable")
    # Writes never went to the standby: the erasure's audit event is on the primary.
    assert stack.count("SELECT count(*) FROM chat_auditevent WHERE action = 'erasure'") >= 1
    assert stack.alive()
