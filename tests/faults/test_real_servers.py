"""Redis and PostgreSQL taken away during a live chat, against a real Daphne process."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from .stack import Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

OUTAGE_SECONDS = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("faults")) as running:
        yield running


async def _until(ws, kind, timeout=10):
    async def wait():
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == kind:
                return data

    return await asyncio.wait_for(wait(), timeout)


async def _open_chat(stack):
    cookie = await asyncio.to_thread(stack.login)
    agent = await websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/agent/",
        origin=stack.url,
        additional_headers={"Cookie": cookie},
    )
    await agent.send(json.dumps({"type": "presence.set", "status": "online"}))
    # Frames of one socket are handled in order: the pong means the presence is stored.
    await agent.send(json.dumps({"type": "ping"}))
    await _until(agent, "pong")
    visitor = await websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url)
    await visitor.send(
        json.dumps({"type": "conversation.start", "text": "hi", "client_msg_id": "v0"})
    )
    started = await _until(visitor, "conversation.started")
    conv_id = started["conversation"]["id"]
    await agent.send(json.dumps({"type": "conversation.claim", "conversation_id": conv_id}))
    await _until(agent, "conversation.claim.ok")
    return visitor, agent, conv_id


async def _send(ws, frame):
    await ws.send(json.dumps(frame))
    while True:
        data = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if data["type"] in ("message.ack", "error") and data.get(
            "client_msg_id", data.get("ref")
        ) in (
            frame["client_msg_id"],
            None,
        ):
            return data


async def test_a_redis_outage_loses_nothing_and_both_sides_catch_up(stack):
    visitor, agent, conv_id = await _open_chat(stack)
    stack.redis.cut()
    outcomes = []
    for i in range(3):
        outcomes.append(
            await _send(
                visitor, {"type": "message.send", "text": f"v{i}", "client_msg_id": f"rv{i}"}
            )
        )
        outcomes.append(
            await _send(
                agent,
                {
                    "type": "message.send",
                    "conversation_id": conv_id,
                    "text": f"a{i}",
                    "client_msg_id": f"ra{i}",
                },
            )
        )
    # Every send is either stored and acknowledged, or the sender is told plainly.
    assert all(o["type"] == "message.ack" or o["code"] == "not_stored" for o in outcomes)
    acked = {o["client_msg_id"] for o in outcomes if o["type"] == "message.ack"}
    await asyncio.sleep(OUTAGE_SECONDS)
    stack.redis.restore()
    assert stack.alive()
    # Both sides catch up from the database without reconnecting.
    await visitor.send(json.dumps({"type": "sync", "last_seen_id": 0}))
    synced = await _until(visitor, "sync")
    stored = {m["client_msg_id"] for m in synced["messages"] if m["client_msg_id"]}
    assert acked <= stored
    await agent.send(json.dumps({"type": "sync", "last_seen_id": 0}))
    agent_synced = await _until(agent, "sync")
    assert acked <= {m["client_msg_id"] for m in agent_synced["messages"] if m["client_msg_id"]}
    rows = await asyncio.to_thread(
        stack.count, "SELECT count(*) FROM chat_message WHERE conversation_id = %s", conv_id
    )
    assert rows == len(synced["messages"])
    # Live delivery works again once Redis is back.
    deadline = asyncio.get_running_loop().time() + 20
    delivered = False
    n = 0
    while not delivered and asyncio.get_running_loop().time() < deadline:
        n += 1
        await _send(
            visitor, {"type": "message.send", "text": "after", "client_msg_id": f"after{n}"}
        )
        try:
            while True:
                data = json.loads(await asyncio.wait_for(agent.recv(), 2))
                if (
                    data["type"] == "message.new"
                    and data["message"]["client_msg_id"] == f"after{n}"
                ):
                    delivered = True
                    break
        except TimeoutError:
            pass
    assert delivered
    await visitor.close()
    await agent.close()


async def _resend_until_stored(ws, client_msg_id: str) -> dict:
    """Sends one message until it is acknowledged, resending after a retryable error as the
    widget does (docs/protocol.md)."""
    reply: dict = {}
    for _ in range(10):
        reply = await _send(
            ws, {"type": "message.send", "text": "x", "client_msg_id": client_msg_id}
        )
        if reply["type"] == "message.ack":
            return reply
        assert reply["code"] in ("not_stored", "server_error"), reply
        await asyncio.sleep(1)
    raise AssertionError(f"never stored: {reply}")


async def test_a_database_outage_acknowledges_nothing_and_a_retry_stores_one_row(stack):
    visitor, agent, conv_id = await _open_chat(stack)
    stack.pg.cut()
    during = await _send(visitor, {"type": "message.send", "text": "x", "client_msg_id": "pg1"})
    assert during["type"] == "error"
    assert during["code"] in ("not_stored", "server_error")
    stack.pg.restore()
    assert stack.alive()
    after = await _resend_until_stored(visitor, "pg1")
    # Sent again (an ack lost on the way, say): the same row. Each database thread's connection
    # died with the cut and fails its next unit once (`not_stored`, retryable): resent as the
    # widget does.
    again = await _resend_until_stored(visitor, "pg1")
    assert again["message"]["id"] == after["message"]["id"]
    rows = await asyncio.to_thread(
        stack.count,
        "SELECT count(*) FROM chat_message WHERE conversation_id = %s AND client_msg_id = 'pg1'",
        conv_id,
    )
    assert rows == 1
    await visitor.close()
    await agent.close()


async def test_a_visitor_and_an_agent_on_two_daphne_processes_talk_both_ways(stack):
    second = stack.ports[1]
    cookie = await asyncio.to_thread(stack.login, "agent2", second)
    origin2 = f"http://127.0.0.1:{second}"
    agent = await websockets.connect(
        f"ws://127.0.0.1:{second}/ws/agent/", origin=origin2, additional_headers={"Cookie": cookie}
    )
    await agent.send(json.dumps({"type": "presence.set", "status": "online"}))
    await agent.send(json.dumps({"type": "hello"}))
    await _until(agent, "welcome")
    visitor = await websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url)
    await visitor.send(json.dumps({"type": "hello"}))
    welcome = await _until(visitor, "welcome")
    assert welcome["agents_online"] is True
    await visitor.send(
        json.dumps({"type": "conversation.start", "text": "across", "client_msg_id": "x0"})
    )
    started = await _until(visitor, "conversation.started")
    conv_id = started["conversation"]["id"]
    queued = await _until(agent, "queue.added")
    assert queued["conversation"]["id"] == conv_id
    await agent.send(json.dumps({"type": "conversation.claim", "conversation_id": conv_id}))
    await _until(agent, "conversation.claim.ok")
    await visitor.send(json.dumps({"type": "typing", "active": True}))
    typing = await _until(agent, "typing")
    assert typing["sender"] == "visitor" and typing["active"] is True
    await agent.send(json.dumps({"type": "typing", "conversation_id": conv_id, "active": True}))
    typing = await _until(visitor, "typing")
    assert typing["name"] == "Bertil Berg"
    await agent.send(
        json.dumps(
            {
                "type": "message.send",
                "conversation_id": conv_id,
                "text": "hej",
                "client_msg_id": "b1",
            }
        )
    )
    while True:
        got = await _until(visitor, "message.new")
        if got["message"]["sender"] == "agent":
            break
    assert got["message"]["author_name"] == "Bertil Berg"
    await visitor.send(json.dumps({"type": "message.send", "text": "tack", "client_msg_id": "x1"}))
    while True:
        got = await _until(agent, "message.new")
        if got["message"]["client_msg_id"] == "x1":
            break
    # Presence set on process 2 reaches a colleague's console on process 1.
    colleague_cookie = await asyncio.to_thread(stack.login, "agent")
    colleague = await websockets.connect(
        f"ws://127.0.0.1:{stack.port}/ws/agent/",
        origin=stack.url,
        additional_headers={"Cookie": colleague_cookie},
    )
    await colleague.send(json.dumps({"type": "hello"}))
    await _until(colleague, "welcome")
    await agent.send(json.dumps({"type": "presence.set", "status": "away"}))
    while True:
        presence = await _until(colleague, "presence")
        if presence["agent"]["name"] == "Bertil Berg":
            break
    assert presence["agent"]["presence"] == "away"
    await colleague.close()
    await visitor.close()
    await agent.close()


async def test_clients_of_a_restarted_daphne_reconnect_and_lose_or_repeat_nothing(stack):
    visitor, agent, conv_id = await _open_chat(stack)
    await visitor.close()
    # Reopen with a token so the conversation can be resumed after the restart.
    visitor = await websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url)
    await visitor.send(
        json.dumps({"type": "conversation.start", "text": "again", "client_msg_id": "r0"})
    )
    started = await _until(visitor, "conversation.started")
    started_token = started["token"]
    conv_id = started["conversation"]["id"]
    await agent.send(json.dumps({"type": "conversation.claim", "conversation_id": conv_id}))
    await _until(agent, "conversation.claim.ok")
    for i in range(5):
        await _send(
            visitor, {"type": "message.send", "text": f"before {i}", "client_msg_id": f"b{i}"}
        )
    await asyncio.to_thread(stack.restart, 0)
    with pytest.raises(websockets.ConnectionClosed):
        for _ in range(100):
            await visitor.recv()
    visitor = await websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/visitor/", origin=stack.url)
    await visitor.send(json.dumps({"type": "hello", "token": started_token, "last_seen_id": 0}))
    welcome = await _until(visitor, "welcome")
    texts = [m["text"] for m in welcome["messages"] if m["sender"] == "visitor"]
    assert texts == ["again"] + [f"before {i}" for i in range(5)]
    assert len({m["id"] for m in welcome["messages"]}) == len(welcome["messages"])
    # A message whose acknowledgement was lost in the restart is resent once and stored once.
    await _send(visitor, {"type": "message.send", "text": "before 4", "client_msg_id": "b4"})
    rows = await asyncio.to_thread(
        stack.count, "SELECT count(*) FROM chat_message WHERE conversation_id = %s", conv_id
    )
    assert rows == len(welcome["messages"])
    await visitor.close()
    await agent.close()
