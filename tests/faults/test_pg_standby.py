"""PostgreSQL primary and streaming standby (pg_basebackup), DATABASE_URL naming both with
`target_session_attrs=read-write`. Three visitors on one Daphne process and an agent on the other
chat with numbered messages while the primary stops at once (`pg_ctl stop -m immediate`) and the
standby is promoted (`pg_ctl promote`). Nothing is configured or restarted after the switch: the
processes find the new primary by themselves, the clients resend what was not stored, and a
long-lived process that runs the retention purge (as a Celery worker does, closing unusable
connections before each task) purges on the new primary.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from .numbered import open_chats, run_through
from .pg_standby import PostgresPair
from .stack import ROOT, Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

# A Celery worker's Django fixup closes unusable connections before and after every task.
PURGER = """
import io, sys, django
django.setup()
from django.core.management import call_command
from django.db import close_old_connections
for line in sys.stdin:
    close_old_connections()
    try:
        call_command("purge_expired", stdout=io.StringIO())
        print("ok", flush=True)
    except Exception as exc:
        print("failed", type(exc).__name__, flush=True)
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pgha")
    pair = PostgresPair()
    try:
        stack = Stack(
            tmp,
            env={
                "CHAT_MESSAGES_PER_MINUTE": "100000",
                "CHAT_MESSAGES_PER_MINUTE_PER_IP": "100000",
                "CHAT_FRAMES_PER_MINUTE": "100000",
                "CHAT_GROUP_COMMIT_TIMEOUT_SECONDS": "3",
            },
            database=(pair.multi_host_url("postgres"), pair.multi_host_url("{db}")),
        )
    except BaseException:
        pair.stop()
        raise
    try:
        yield stack, pair
    finally:
        stack.stop()
        pair.stop()


def _purge(purger: subprocess.Popen) -> str:
    purger.stdin.write("run\n")
    purger.stdin.flush()
    return purger.stdout.readline().strip()


async def test_a_promoted_standby_is_found_and_nothing_is_lost(deployment):
    stack, pair = deployment
    purger = subprocess.Popen(
        [sys.executable, "-c", PURGER],
        cwd=ROOT,
        env=stack.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert await asyncio.to_thread(_purge, purger) == "ok"
        cookie = await asyncio.to_thread(stack.login)
        a, b = stack.ports
        chat = await open_chats(
            count=3,
            visitor_url=lambda: f"ws://127.0.0.1:{a}/ws/visitor/",
            agent_url=lambda: f"ws://127.0.0.1:{b}/ws/agent/",
            origin=None,
            cookie=cookie,
        )
        failover: dict[str, float] = {}

        async def promote() -> None:
            await asyncio.to_thread(pair.wait_replicated, stack.db)
            failover["seconds"] = await asyncio.to_thread(pair.fail_over)

        figures = await run_through(chat, promote)
        print(f"PostgreSQL promotion ({failover['seconds']:.1f} s): {figures}")
        assert figures["lost"] == 0
        assert figures["duplicated"] == 0
        texts = [t for side in chat.visitors for t in side.sent] + list(chat.agent.sent)
        assert stack.count("SELECT count(*) FROM chat_message WHERE text = ANY(%s)", texts) == len(
            texts
        )
        assert stack.count(
            "SELECT count(DISTINCT text) FROM chat_message WHERE text = ANY(%s)", texts
        ) == len(texts)
        assert stack.alive()

        # The purge's process was connected to the old primary; its next run works on the new.
        assert await asyncio.to_thread(_purge, purger) == "ok"
        assert stack.count("SELECT count(*) FROM chat_retentionrun WHERE succeeded") >= 2
    finally:
        purger.stdin.close()
        purger.wait(30)
