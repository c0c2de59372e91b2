"""The reconnect storm's accounting and its clients' catch-up, without a server (not timed)."""

from __future__ import annotations

import asyncio
import json

from bench import starts, storm


def test_the_ledger_counts_lost_duplicated_and_received_again():
    ledger = storm.Ledger()
    ledger.sent = {"a": (1, "visitor"), "b": (1, "agent"), "c": (2, "visitor"), "d": (2, "agent")}
    ledger.got("agent", {"id": 10, "client_msg_id": "a", "sender": "visitor"})
    ledger.got("agent", {"id": 10, "client_msg_id": "a", "sender": "visitor"})  # overlap
    ledger.got("visitor", {"id": 11, "client_msg_id": "b", "sender": "agent"})
    ledger.got("visitor", {"id": 12, "client_msg_id": "b", "sender": "agent"})  # stored twice
    ledger.got("visitor", {"id": 13, "client_msg_id": "c", "sender": "visitor"})  # own tab
    ledger.got("agent", {"id": 14, "client_msg_id": "zzz", "sender": "visitor"})  # not ours
    figures = ledger.figures()
    assert figures["sent"] == 4
    assert figures["delivered"] == 2
    assert figures["lost"] == 2
    assert figures["duplicates"] == 1
    assert figures["received_again_same_id"] == 1
    assert sorted(x[0] for x in figures["lost_sample"]) == ["c", "d"]


def _client(role: str = "widget") -> storm.Client:
    client = storm.Client(role, "http://127.0.0.1:1", storm.Ledger(), conv=7)
    client.ws = object()  # type: ignore[assignment]  # sending only queues the frame
    client.queue = asyncio.Queue()
    return client


def _sent(client: storm.Client) -> list[dict]:
    out = []
    while not client.queue.empty():
        out.append(json.loads(client.queue.get_nowait()))
    return out


def test_messages_typed_during_the_catch_up_go_out_once_after_it():
    client = _client()
    client.write(1, 7)
    assert _sent(client) == []  # no welcome yet: kept in the outbox
    client.receive(
        {
            "type": "welcome",
            "messages": [{"id": 5, "client_msg_id": "x", "sender": "agent"}],
            "more": True,
            "next": {"messages": {"type": "sync", "last_seen_id": 0, "cursor": 5}},
        }
    )
    assert [f["type"] for f in _sent(client)] == ["sync"]  # the next page, nothing else
    assert not client.live
    client.receive({"type": "sync", "messages": [{"id": 6}], "more": False})
    assert client.live and client.last_seen == 6
    frames = _sent(client)
    assert [f["type"] for f in frames] == ["message.send"]
    cmid = frames[0]["client_msg_id"]
    client.flush()
    assert _sent(client) == []  # once per socket
    client.receive(
        {"type": "message.ack", "message": {"id": 9, "client_msg_id": cmid, "sender": "visitor"}}
    )
    assert client.outbox == {} and client.last_seen == 9


def test_the_console_says_it_is_online_on_welcome_and_names_the_chat():
    client = _client("console")
    client.receive({"type": "welcome", "me": {}, "messages": []})
    client.write(3, 42)
    frames = _sent(client)
    assert frames[0] == {"type": "presence.set", "status": "online"}
    assert frames[1]["conversation_id"] == 42 and frames[1]["type"] == "message.send"
    assert client.ledger.sent[frames[1]["client_msg_id"]] == (42, "agent")


def test_a_restart_frame_sets_the_reconnect_delay():
    client = _client()
    client.receive({"type": "restart", "retry_after_ms": 1700})
    assert client.ledger.restart_frames == 1
    assert client.policy.on_close(4012) == 1700


def test_a_starts_step_passes_only_without_shedding_loss_or_a_slow_p99():
    ok = {"p99_ms": 100.0, "shed": 0, "lost": 0, "errors": {}, "achieved_rate": 50, "rate": 50}
    assert starts.passes(ok)
    assert not starts.passes({**ok, "p99_ms": 250.0})
    assert not starts.passes({**ok, "shed": 1})
    assert not starts.passes({**ok, "lost": 1})
    assert not starts.passes({**ok, "errors": {"unavailable": 1}})
    assert not starts.passes({**ok, "achieved_rate": 40})
    assert not starts.passes({**ok, "p99_ms": None})
