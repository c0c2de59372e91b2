"""The routed-chat step: offers per second with capacity held, on two Daphne processes.

`CHAT_ROUTING=offer`, 10 agents of capacity 3 on live console sockets. Visitors start chats in a
burst (half on each process); each agent accepts every offer made to it and ends the chat at
once, which frees the place and routes the next waiting chat. Measured: offers per second from
the first start to the last chat ended, every chat ended (none lost), and whether any agent was
ever above capacity (a deferred trigger checks each commit that touches a chat, as in
tests/faults/test_routing_load.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from . import loadgen
from .common import (
    BIN,
    PG,
    PYTHON,
    ROOT,
    Server,
    daphne_args,
    delete_redis_keys,
    free_port,
    recreate_database,
)
from .product import env as product_env

DB_NAME = "helao_bench_routing"
PREFIX = "helao-bench-routing"
AGENTS = 10
CAPACITY = 3

SETUP = """
import json
from datetime import timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.utils import timezone
from agents.models import AgentProfile
call_command("migrate", interactive=False, verbosity=0)
group = Group.objects.get(name="Agent")
keys = []
for i in range(%(agents)d):
    user = User.objects.create_user(f"routed-{i}", first_name=f"Routed {i}")
    user.groups.add(group)
    AgentProfile.objects.create(
        user=user, presence="online", capacity=%(capacity)d,
        presence_seen_at=timezone.now() + timedelta(hours=1),
        guidance_acknowledged_at=timezone.now(), guidance_version=99,
    )
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    keys.append([user.pk, s.session_key])
print(json.dumps(keys))
"""

WATCH = """
CREATE TABLE IF NOT EXISTS capacity_violation (agent_id int, load int);
CREATE OR REPLACE FUNCTION capacity_check() RETURNS trigger AS $$
DECLARE who int; n int; cap int;
BEGIN
  FOREACH who IN ARRAY ARRAY[NEW.assigned_agent_id, NEW.offered_to_id] LOOP
    CONTINUE WHEN who IS NULL;
    SELECT count(*) INTO n FROM chat_conversation
      WHERE (status = 'active' AND assigned_agent_id = who)
         OR (status = 'waiting' AND offered_to_id = who);
    SELECT capacity INTO cap FROM agents_agentprofile WHERE user_id = who;
    IF n > cap THEN INSERT INTO capacity_violation VALUES (who, n); END IF;
  END LOOP;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER capacity_watch AFTER INSERT OR UPDATE ON chat_conversation
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION capacity_check();
"""


def env() -> dict[str, str]:
    return {
        **product_env(),
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "CHANNEL_PREFIX": PREFIX,
        "CHAT_ROUTING": "offer",
    }


def _prepare() -> list[tuple[int, str]]:
    import os
    import subprocess

    import psycopg

    recreate_database(DB_NAME)
    delete_redis_keys(PREFIX)
    proc = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SETUP % {"agents": AGENTS, "capacity": CAPACITY}],
        cwd=ROOT,
        env={**os.environ, **env()},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = proc.stdout
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as c:
        c.execute(WATCH)
    return [tuple(pair) for pair in json.loads(out.strip().splitlines()[-1])]


async def _agent(origin: str, user_id: int, cookie: str, state: dict[str, Any]) -> None:
    """One console: accepts every offer made to it and ends the chat at once."""
    try:
        await _console(origin, user_id, cookie, state)
    except Exception as exc:
        state["console_errors"].append(f"{type(exc).__name__}: {str(exc)[:200]}")


async def _console(origin: str, user_id: int, cookie: str, state: dict[str, Any]) -> None:
    async with loadgen.connect(
        origin.replace("http", "ws", 1) + "/ws/agent/",
        origin=origin,
        additional_headers={"Cookie": f"sessionid={cookie}"},
        open_timeout=60,
        max_size=2**20,
    ) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        state["ready"] += 1
        while not state["done"].is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 1))
            except TimeoutError:
                continue
            kind = frame["type"]
            if kind == "conversation.offered":
                state["offers_seen"][user_id] = state["offers_seen"].get(user_id, 0) + 1
                if frame["agent_id"] == user_id:
                    await ws.send(
                        json.dumps(
                            {
                                "type": "conversation.claim",
                                "conversation_id": frame["conversation_id"],
                            }
                        )
                    )
            elif kind == "conversation.claim.ok":
                conv = frame["conversation"]["id"]
                await ws.send(json.dumps({"type": "conversation.close", "conversation_id": conv}))
            elif kind == "conversation.closed":
                state["closed"].add(frame["conversation"]["id"])
                if len(state["closed"] & state["started"]) >= state["chats"]:
                    state["last"] = time.perf_counter()
                    state["done"].set()
            elif kind == "error":
                state.setdefault("errors_seen", []).append(frame.get("code"))


async def _visitor(origin: str, i: int, state: dict[str, Any]) -> None:
    async with loadgen.connect(
        origin.replace("http", "ws", 1) + "/ws/visitor/", origin=origin, open_timeout=60
    ) as ws:
        frame = {"type": "conversation.start", "text": f"routed {i}", "client_msg_id": "r"}
        await ws.send(json.dumps(frame))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if reply["type"] == "conversation.started":
                state["started"].add(reply["conversation"]["id"])
                return
            if reply["type"] == "error" and reply.get("retry_after_ms"):
                await asyncio.sleep(reply["retry_after_ms"] / 1000)
                await ws.send(json.dumps(frame))
            elif reply["type"] == "error":
                state["start_errors"] += 1
                return


async def run(quick: bool, log) -> dict[str, Any]:
    """The routed-chat step; returns its figures."""
    import psycopg

    chats = 150 if quick else 600
    agents = _prepare()
    servers = [
        Server(
            f"routing-{n}",
            [str(BIN / "python"), "-m", "helao_chat.serve", *daphne_args(port)],
            env(),
            port,
        )
        for n, port in enumerate((free_port(), free_port()))
    ]
    try:
        for server in servers:
            server.start()
        state: dict[str, Any] = {
            "offers_seen": {},
            "closed": set(),
            "started": set(),
            "chats": chats,
            "ready": 0,
            "done": asyncio.Event(),
            "start_errors": 0,
            "at_capacity_errors": 0,
            "console_errors": [],
        }
        consoles = [
            asyncio.create_task(_agent(servers[i % 2].origin, uid, key, state))
            for i, (uid, key) in enumerate(agents)
        ]
        deadline = time.monotonic() + 60
        while state["ready"] < len(agents):
            if time.monotonic() > deadline or state["console_errors"]:
                raise RuntimeError(f"consoles did not connect: {state['console_errors'][:3]}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the consoles' hello is answered before the burst
        log(f"routing: {chats} chats on two processes, {AGENTS} agents of capacity {CAPACITY}")
        first = time.perf_counter()
        await asyncio.gather(*(_visitor(servers[i % 2].origin, i, state) for i in range(chats)))
        try:
            await asyncio.wait_for(state["done"].wait(), 120 if quick else 300)
        except TimeoutError:
            state["last"] = time.perf_counter()
        state["done"].set()
        await asyncio.gather(*consoles, return_exceptions=True)
        elapsed = state["last"] - first
        with psycopg.connect(f"{PG}/{DB_NAME}") as c:
            violations = c.execute("SELECT count(*) FROM capacity_violation").fetchone()[0]
            ended = c.execute("SELECT count(*) FROM chat_conversation WHERE status = 'closed'")
            ended = ended.fetchone()[0]
        # Every console sees every offer (events are hints: one may miss a few).
        offers = max(state["offers_seen"].values(), default=0)
        return {
            "chats": chats,
            "agents": AGENTS,
            "capacity": CAPACITY,
            "offers": offers,
            "seconds": round(elapsed, 2),
            "routed_offers_per_s": round(offers / elapsed, 1) if elapsed > 0 else None,
            "routing_capacity_violations": violations,
            "routing_chats_lost": chats - ended,
            "start_errors": state["start_errors"],
            "console_errors": state["console_errors"][:5],
            "errors_seen": state.get("errors_seen", [])[:10],
            "server_errors_logged": sum(s.error_lines() for s in servers),
        }
    finally:
        for server in servers:
            server.stop()
