"""Capacity routing under a burst, across two real Daphne processes: 200 chats started at once,
10 agents of capacity 3. No agent is ever above 3, every chat is offered or queued, none lost."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import psycopg
import pytest
import websockets

from .stack import ROOT, Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

CHATS = 200
AGENTS = 10
CAPACITY = 3

# Ten online agents of capacity 3; every other account offline. Their presence is fresh for
# the next hour, so no heartbeat is needed while the test runs.
SETUP = f"""
from datetime import timedelta
from django.contrib.auth.models import Group, User
from django.utils import timezone
from agents.models import AgentProfile
AgentProfile.objects.update(presence="offline")
group = Group.objects.get(name="Agent")
for i in range({AGENTS}):
    user = User.objects.create_user(f"router{{i}}", first_name=f"Router {{i}}")
    user.groups.add(group)
    AgentProfile.objects.create(
        user=user, presence="online", capacity={CAPACITY},
        presence_seen_at=timezone.now() + timedelta(hours=1),
        guidance_acknowledged_at=timezone.now(), guidance_version=99,
    )
"""

# Every committed change of a conversation is checked against the capacity of the agent it
# is assigned or offered to, at the end of its transaction; a load above capacity is recorded.
WATCH = """
CREATE TABLE capacity_violation (agent_id int, load int, at timestamptz DEFAULT now());
CREATE FUNCTION capacity_check() RETURNS trigger AS $$
DECLARE
  who int;
  n int;
  cap int;
BEGIN
  FOREACH who IN ARRAY ARRAY[NEW.assigned_agent_id, NEW.offered_to_id] LOOP
    CONTINUE WHEN who IS NULL;
    SELECT count(*) INTO n FROM chat_conversation
      WHERE (status = 'active' AND assigned_agent_id = who)
         OR (status = 'waiting' AND offered_to_id = who);
    SELECT capacity INTO cap FROM agents_agentprofile WHERE user_id = who;
    IF n > cap THEN
      INSERT INTO capacity_violation (agent_id, load) VALUES (who, n);
    END IF;
  END LOOP;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER capacity_watch AFTER INSERT OR UPDATE ON chat_conversation
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION capacity_check();
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(
        tmp_path_factory.mktemp("routing"),
        env={
            "CHAT_ROUTING": "offer",
            "CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP": "100000",
            "CHAT_MAX_CONNECTIONS_PER_IP": "100000",
        },
    )
    try:
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SETUP],
            cwd=ROOT,
            env=running.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        with psycopg.connect(running.database_url, autocommit=True) as c:
            c.execute(WATCH)
        yield running
    finally:
        running.stop()


async def _start_chat(stack: Stack, i: int) -> int:
    """One visitor on one of the two processes: opens a chat, returns its id."""
    port = stack.ports[i % 2]
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/visitor/", origin=f"http://127.0.0.1:{port}", open_timeout=60
    ) as ws:
        await ws.send(
            json.dumps({"type": "conversation.start", "text": f"hello {i}", "client_msg_id": "a"})
        )
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if frame["type"] == "conversation.started":
                return frame["conversation"]["id"]
            if frame["type"] == "error":
                if frame.get("retry_after_ms"):
                    # A busy process asks to come back (admission control): the visitor does.
                    await asyncio.sleep(frame["retry_after_ms"] / 1000)
                    await ws.send(
                        json.dumps(
                            {
                                "type": "conversation.start",
                                "text": f"hello {i}",
                                "client_msg_id": "a",
                            }
                        )
                    )
                    continue
                raise AssertionError(frame)


async def test_a_burst_of_200_chats_never_puts_an_agent_over_capacity(stack):
    started = await asyncio.gather(*(_start_chat(stack, i) for i in range(CHATS)))
    assert len(set(started)) == CHATS

    with psycopg.connect(stack.database_url) as c:
        # None lost: every chat is stored and waits, offered to an agent or queued.
        rows = c.execute(
            "SELECT status, offered_to_id FROM chat_conversation WHERE id = ANY(%s)",
            (list(started),),
        ).fetchall()
        assert len(rows) == CHATS
        assert {status for status, _ in rows} == {"waiting"}
        offered = [agent for _, agent in rows if agent is not None]
        # The agents' room is filled exactly: 10 x 3 offers, the other 170 queued.
        assert len(offered) == AGENTS * CAPACITY
        per_agent = {agent: offered.count(agent) for agent in set(offered)}
        assert len(per_agent) == AGENTS
        assert max(per_agent.values()) == CAPACITY
        # At no commit was any agent above capacity.
        assert c.execute("SELECT count(*) FROM capacity_violation").fetchone()[0] == 0
    assert stack.alive()
