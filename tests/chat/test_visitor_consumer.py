from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, Message, PageVisit, VisitorConnection
from tests.conftest import visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PAGE = {"url": "https://www.example.org/courses/", "title": "Courses", "referrer": ""}


async def _start(comm, text="Hello", cid="c1"):
    await comm.send_json_to(
        {
            "type": "conversation.start",
            "text": text,
            "client_msg_id": cid,
            "page": PAGE,
            "screen": "1920x1080",
            "lang": "fi",
        }
    )
    started = await comm.receive_json_from(timeout=10)
    ack = await comm.receive_json_from(timeout=10)
    return started, ack


async def test_it_starts_a_conversation_and_stores_the_register_data(agent_online):
    comm = visitor_communicator()
    connected, _ = await comm.connect()
    assert connected
    started, ack = await _start(comm)
    assert started["type"] == "conversation.started"
    assert len(started["token"]) >= 43
    assert ack["type"] == "message.ack" and ack["client_msg_id"] == "c1"
    conv = await database_sync_to_async(Conversation.objects.get)()
    assert conv.status == "waiting"
    assert conv.token_hash != started["token"]
    conn = await database_sync_to_async(VisitorConnection.objects.get)()
    assert conn.ip_address == "203.0.113.7"
    assert conn.browser == "Firefox" and conn.os == "Linux" and conn.device_type == "desktop"
    assert conn.screen == "1920x1080"
    assert await database_sync_to_async(PageVisit.objects.count)() == 1
    await comm.disconnect()


async def test_it_refuses_to_start_when_no_agent_is_online(roles):
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_json_to({"type": "hello"})
    welcome = await comm.receive_json_from()
    assert welcome["agents_online"] is False
    await comm.send_json_to({"type": "conversation.start", "text": "hi", "client_msg_id": "x"})
    error = await comm.receive_json_from()
    assert error == {"type": "error", "code": "unavailable", "message": error["message"]}
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    await comm.disconnect()


async def test_a_resent_client_id_stores_one_row_and_acks_the_same(agent_online):
    comm = visitor_communicator()
    await comm.connect()
    await _start(comm)
    acks = []
    for _ in range(3):
        await comm.send_json_to({"type": "message.send", "text": "again", "client_msg_id": "dup"})
        while True:
            frame = await comm.receive_json_from()
            if frame["type"] == "message.ack":
                acks.append(frame)
                break
    assert len({a["message"]["id"] for a in acks}) == 1
    assert await database_sync_to_async(Message.objects.filter(client_msg_id="dup").count)() == 1
    await comm.disconnect()


async def test_it_resumes_by_token_from_the_last_seen_id(agent_online):
    comm = visitor_communicator()
    await comm.connect()
    started, _ = await _start(comm)
    await comm.disconnect()
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to({"type": "hello", "token": started["token"], "last_seen_id": 0})
    welcome = await again.receive_json_from()
    assert welcome["conversation"]["reference"] == started["conversation"]["reference"]
    assert [m["text"] for m in welcome["messages"]] == ["Hello"]
    await again.disconnect()


async def test_a_wrong_token_reveals_nothing(agent_online):
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_json_to({"type": "hello", "token": "x" * 43})
    error = await comm.receive_json_from()
    assert error["code"] == "bad_token"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[1,2]", "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "message.send", "text": "hi", "client_msg_id": "a"}', "no_conversation"),
    ],
)
async def test_bad_frames_get_an_error_and_keep_the_socket(agent_online, raw, code):
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_to(text_data=raw)
    error = await comm.receive_json_from()
    assert error["type"] == "error" and error["code"] == code
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


async def test_text_over_4000_characters_is_refused(agent_online):
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_json_to(
        {"type": "conversation.start", "text": "x" * 4001, "client_msg_id": "a"}
    )
    error = await comm.receive_json_from()
    assert error["code"] == "too_long"
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    await comm.disconnect()


async def test_a_frame_over_64_kib_closes_with_4009(agent_online):
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 70000}))
    error = await comm.receive_json_from()
    assert error["code"] == "frame_too_large"
    closed = await comm.receive_output()
    assert closed == {"type": "websocket.close", "code": 4009}


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://testserver.evil.example",
        "https://testserver",
        "http://testserver:8080",
    ],
)
async def test_a_foreign_origin_is_refused_before_accept(agent_online, origin):
    comm = visitor_communicator(origin=origin)
    connected, _ = await comm.connect()
    assert not connected
    assert await database_sync_to_async(VisitorConnection.objects.count)() == 0


async def test_a_message_stored_while_the_visitor_resumes_reaches_the_visitor(
    agent_online, monkeypatch
):
    """The resuming socket follows its chat before reading the messages: one stored right
    after the read (by another tab, or an agent) still arrives, live, after the welcome."""
    from asgiref.sync import async_to_sync

    from chat import consumers, services

    comm = visitor_communicator()
    await comm.connect()
    started, _ = await _start(comm)
    await comm.disconnect()
    conversation_id = started["conversation"]["id"]
    real = consumers._resume

    def resume_then_another_tab_writes(*args, **kwargs):
        welcome = real(*args, **kwargs)
        async_to_sync(services.message_send)(
            conversation_id=conversation_id,
            sender=Message.Sender.VISITOR,
            text="Meanwhile",
            client_msg_id="other-tab-1",
            batched=False,
        )
        return welcome

    monkeypatch.setattr(consumers, "_resume", resume_then_another_tab_writes)
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to({"type": "hello", "token": started["token"], "last_seen_id": 0})
    welcome = await again.receive_json_from(timeout=10)
    assert [m["text"] for m in welcome["messages"]] == ["Hello"]
    live = await again.receive_json_from(timeout=10)
    assert live["type"] == "message.new" and live["message"]["text"] == "Meanwhile"
    await again.disconnect()
