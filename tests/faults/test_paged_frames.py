"""Long queues and long histories through a real Daphne, read by clients that accept at most
64 KiB a frame (the protocol's limit, whatever the web server would carry): every answer
arrives in pages that fit."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets

import psycopg
import pytest
import websockets

from tests.addresses import pg_url

from .stack import Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

LIMIT = 65536
LONG_TEXT = "\U0001f600" * 4000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("paged")) as running:
        yield running


def _sql(stack: Stack, sql: str, *params) -> list[tuple]:
    with psycopg.connect(pg_url(stack.db)) as c:
        cursor = c.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _conversations(stack: Stack, count: int, *, status="waiting", agent=None) -> list[int]:
    """`count` conversations made in one statement; their ids."""
    rows = _sql(
        stack,
        "INSERT INTO chat_conversation (reference, token_hash, status, assigned_agent_id,"
        " language, created_at, last_activity_at, claimed_at, closed_by)"
        " SELECT 'P' || substr(md5(random()::text || n), 1, 10), md5(random()::text || n) || n,"
        " %s, %s, 'fi', now(), now(), CASE WHEN %s = 'active' THEN now() END, ''"
        " FROM generate_series(1, %s) AS n RETURNING id",
        status,
        agent,
        status,
        count,
    )
    return sorted(row[0] for row in rows)


def _messages(stack: Stack, ids: list[int], text: str, *, each: int = 1, sender="visitor"):
    return [
        row[0]
        for row in _sql(
            stack,
            "INSERT INTO chat_message (conversation_id, sender, author_name, text, client_msg_id,"
            " created_at) SELECT c, %s, '', %s, '', now()"
            " FROM unnest(%s::bigint[]) AS c, generate_series(1, %s) ORDER BY c RETURNING id",
            sender,
            text,
            ids,
            each,
        )
    ]


async def _follow(ws, request: dict) -> list[dict]:
    """Sends `request` and every frame named in `next` until no answer has more."""
    answers = []
    await ws.send(json.dumps(request))
    outstanding = 1
    while outstanding:
        raw = await asyncio.wait_for(ws.recv(), 30)
        assert len(raw.encode("utf-8")) <= LIMIT
        frame = json.loads(raw)
        assert frame["type"] != "error", frame
        if "more" not in frame:
            continue
        answers.append(frame)
        outstanding -= 1
        for continuation in (frame.get("next") or {}).values():
            await ws.send(json.dumps(continuation))
            outstanding += 1
    return answers


def _ids(answers: list[dict], field: str) -> list[int]:
    return [item["id"] for frame in answers for item in frame.get(field) or []]


async def _console(stack: Stack):
    cookie = await asyncio.to_thread(stack.login)
    return await websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/agent/",
        origin=stack.url,
        additional_headers={"Cookie": cookie},
        max_size=LIMIT,
    )


async def _queue_loads(stack: Stack, ids: list[int]) -> None:
    async with await _console(stack) as console:
        answers = await _follow(console, {"type": "hello"})
    got = _ids(answers, "queue")
    assert len(got) == len(set(got))
    assert set(ids) <= set(got)


async def test_a_queue_of_300_waiting_chats_loads_in_the_console(stack):
    ids = _conversations(stack, 300)
    _messages(stack, ids, "Hei, tarvitsen apua tilauksen kanssa")
    await _queue_loads(stack, ids)


async def test_a_queue_of_12_chats_with_4000_character_first_messages_loads(stack):
    ids = _conversations(stack, 12)
    _messages(stack, ids, LONG_TEXT)
    await _queue_loads(stack, ids)


async def test_an_agent_reconnecting_to_a_chat_of_nine_long_replies_gets_all_of_them(stack):
    agent = _sql(stack, "SELECT id FROM auth_user WHERE username = 'agent'")[0][0]
    [chat] = _conversations(stack, 1, status="active", agent=agent)
    ids = _messages(stack, [chat], LONG_TEXT, each=9, sender="agent")
    async with await _console(stack) as console:
        answers = await _follow(console, {"type": "hello"})
    assert chat in _ids(answers, "chats")
    got = [m["id"] for f in answers for m in f.get("messages", []) if m["conversation_id"] == chat]
    assert got == ids


async def test_a_visitor_syncs_a_chat_of_5000_messages(stack):
    token = secrets.token_urlsafe(32)
    [chat] = _conversations(stack, 1, status="active")
    _sql(
        stack,
        "UPDATE chat_conversation SET token_hash = %s WHERE id = %s",
        hashlib.sha256(token.encode()).hexdigest(),
        chat,
    )
    ids = _messages(stack, [chat], "Viesti, jossa on vähän tekstiä. " * 6, each=5000)
    async with websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url, max_size=LIMIT
    ) as visitor:
        welcome = await _follow(visitor, {"type": "hello", "token": token, "last_seen_id": ids[-1]})
        assert _ids(welcome, "messages")
        answers = await _follow(visitor, {"type": "sync"})
    assert _ids(answers, "messages") == ids
    assert len(answers) > 10
