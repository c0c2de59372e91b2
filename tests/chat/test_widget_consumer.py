"""The visitor websocket as the widget speaks it: every frame type and every bad input."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, HostContext, Message, OpeningHours, PageVisit
from chat.models import VisitorConnection as Connection
from tests.conftest import agent_communicator, receive_type, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PAGE = {"url": "https://www.example.org/", "title": "Home", "referrer": ""}
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


_frame = receive_type


async def _error(comm, frame) -> dict:
    if isinstance(frame, str):
        await comm.send_to(text_data=frame)
    else:
        await comm.send_json_to(frame)
    return await _frame(comm, "error")


async def _open(**kwargs):
    comm = visitor_communicator(**kwargs)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def _started(comm, text="Hello", cid="c1", **extra):
    await comm.send_json_to(
        {"type": "conversation.start", "text": text, "client_msg_id": cid, "page": PAGE, **extra}
    )
    started = await _frame(comm, "conversation.started")
    await _frame(comm, "message.ack")
    return started


async def _still_open(comm):
    await comm.send_json_to({"type": "ping"})
    assert await _frame(comm, "pong") == {"type": "pong"}


async def _kinds_within(comm, seconds: float) -> list[str]:
    """The types of the frames `comm` receives in the next `seconds`."""
    kinds = []
    while not await comm.receive_nothing(timeout=seconds):
        kinds.append((await comm.receive_json_from())["type"])
    return kinds


def _count(model, **filters):
    return database_sync_to_async(lambda: model.objects.filter(**filters).count())()


# --- every frame type ---------------------------------------------------------------------------


async def test_hello_without_a_token_tells_availability_and_opening_hours(agent_online):
    from datetime import time

    await database_sync_to_async(OpeningHours.objects.create)(
        weekday=0, opens=time(9), closes=time(16)
    )
    comm = await _open()
    await comm.send_json_to({"type": "hello", "lang": "fi", "screen": "390x844"})
    welcome = await _frame(comm, "welcome")
    assert welcome["conversation"] is None
    assert welcome["agents_online"] is True
    assert welcome["opening_hours"] == [{"weekday": 0, "opens": "09:00", "closes": "16:00"}]
    # A greeting alone stores nothing about the visitor.
    assert await _count(Conversation) == 0
    assert await _count(Connection) == 0
    await comm.disconnect()


async def test_a_resumed_hello_records_the_new_page(agent_online):
    comm = await _open()
    started = await _started(comm)
    await comm.disconnect()
    again = await _open()
    page2 = {"url": "https://www.example.org/prices", "title": "Prices", "referrer": PAGE["url"]}
    await again.send_json_to({"type": "hello", "token": started["token"], "page": page2})
    welcome = await _frame(again, "welcome")
    assert [m["text"] for m in welcome["messages"]] == ["Hello"]
    assert await _count(PageVisit, url=page2["url"], referrer=PAGE["url"]) == 1
    await again.disconnect()


async def test_message_send_is_acknowledged_once_and_reaches_the_visitors_other_tab(agent_online):
    comm = await _open()
    started = await _started(comm)
    other_tab = await _open()
    await other_tab.send_json_to({"type": "hello", "token": started["token"]})
    await _frame(other_tab, "welcome")
    await comm.send_json_to({"type": "message.send", "text": "More", "client_msg_id": "c2"})
    ack = await _frame(comm, "message.ack")
    assert ack["message"]["text"] == "More"
    # The sender knows its message from the acknowledgement; the broadcast is not echoed back.
    # (Its place in the queue may still be on its way: that is not an echo.)
    assert "message.new" not in await _kinds_within(comm, 0.5)
    seen = await _frame(other_tab, "message.new")
    assert seen["message"] == ack["message"]
    assert "message.new" not in await _kinds_within(other_tab, 0.3)
    await other_tab.disconnect()
    await comm.disconnect()


async def test_typing_goes_both_ways_with_the_agents_name(agent_online):
    comm = await _open()
    started = await _started(comm)
    conv_id = started["conversation"]["id"]
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    await agent.connect()
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await _frame(agent, "conversation.claim.ok")
    await comm.send_json_to({"type": "typing", "active": True})
    typing = await _frame(agent, "typing")
    assert typing["sender"] == "visitor" and typing["active"] is True
    await agent.send_json_to({"type": "typing", "conversation_id": conv_id, "active": True})
    seen = await _frame(comm, "typing")
    assert seen["name"] == "Alice Agent" and seen["active"] is True
    await agent.disconnect()
    await comm.disconnect()


async def test_page_view_is_recorded_only_for_an_open_conversation(agent_online):
    comm = await _open()
    await comm.send_json_to({"type": "page.view", "page": PAGE})
    await _still_open(comm)
    assert await _count(PageVisit) == 0
    await _started(comm)
    page2 = {"url": "https://www.example.org/b", "title": SCRIPT, "referrer": PAGE["url"]}
    await comm.send_json_to({"type": "page.view", "page": page2})
    await _still_open(comm)
    visit = await database_sync_to_async(PageVisit.objects.last)()
    assert (visit.url, visit.title) == (page2["url"], SCRIPT)
    await comm.disconnect()


async def test_context_set_stores_the_listed_keys_of_host_context_as_given(agent_online, settings):
    settings.CHAT_CONTEXT_KEYS = ["customer", "plan"]
    comm = await _open()
    await _started(comm)
    await comm.send_json_to({"type": "context.set", "data": {"customer": SCRIPT, "plan": 3}})
    await _still_open(comm)
    ctx = await database_sync_to_async(HostContext.objects.get)()
    assert ctx.data == {"customer": SCRIPT, "plan": 3}
    await comm.disconnect()


async def test_start_may_carry_context(agent_online, settings):
    settings.CHAT_CONTEXT_KEYS = ["order"]
    comm = await _open()
    await _started(comm, context={"order": "A-1"})
    assert await _count(HostContext, data={"order": "A-1"}) == 1
    await comm.disconnect()


async def test_sync_returns_what_the_visitor_missed(agent_online):
    comm = await _open()
    await _started(comm)
    await comm.send_json_to({"type": "message.send", "text": "Two", "client_msg_id": "c2"})
    await _frame(comm, "message.ack")
    await comm.send_json_to({"type": "sync", "last_seen_id": 0})
    synced = await _frame(comm, "sync")
    assert [m["text"] for m in synced["messages"]] == ["Hello", "Two"]
    await comm.disconnect()


async def test_the_visitor_ends_the_chat_and_can_start_a_new_one(agent_online):
    comm = await _open()
    first = await _started(comm)
    await comm.send_json_to({"type": "conversation.end"})
    closed = await _frame(comm, "conversation.closed")
    assert closed["conversation"]["status"] == "closed"
    # Ending twice repeats the answer; writing to an ended chat is refused.
    await comm.send_json_to({"type": "conversation.end"})
    assert (await _frame(comm, "conversation.closed"))["conversation"]["id"] == first[
        "conversation"
    ]["id"]
    error = await _error(comm, {"type": "message.send", "text": "late", "client_msg_id": "z"})
    assert error["code"] == "closed"
    second = await _started(comm, text="Again", cid="d1")
    assert second["conversation"]["reference"] != first["conversation"]["reference"]
    assert second["token"] != first["token"]
    conv = await database_sync_to_async(Conversation.objects.get)(pk=first["conversation"]["id"])
    assert conv.closed_by == "visitor"
    await comm.disconnect()


async def test_ping_gets_pong(roles):
    comm = await _open()
    await _still_open(comm)
    await comm.disconnect()


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "conversation.start", "text": 5, "client_msg_id": "a"}, "bad_frame"),
        ({"type": "conversation.start", "text": "hi", "client_msg_id": 7}, "bad_frame"),
        ({"type": "conversation.start", "text": "hi", "client_msg_id": ""}, "bad_frame"),
        (
            {"type": "conversation.start", "text": "hi", "client_msg_id": "a", "page": "x"},
            "bad_frame",
        ),
        (
            {"type": "conversation.start", "text": "hi", "client_msg_id": "a", "page": {"url": 1}},
            "bad_frame",
        ),
        (
            {"type": "conversation.start", "text": "hi", "client_msg_id": "a", "context": [1]},
            "bad_frame",
        ),
        ({"type": "conversation.start", "text": "   ", "client_msg_id": "a"}, "empty"),
        ({"type": "hello", "token": 12345}, "bad_token"),
        ({"type": "hello", "token": ""}, "bad_token"),
        ({"type": "hello", "last_seen_id": "7"}, "bad_frame"),
        ({"type": "hello", "last_seen_id": -1}, "bad_frame"),
        ({"type": "hello", "last_seen_id": True}, "bad_frame"),
        ({"type": "page.view", "page": None}, "bad_frame"),
        ({"type": "page.view", "page": {"url": "javascript:alert(1)"}}, "bad_frame"),
        ({"type": "typing", "active": True}, "no_conversation"),
        ({"type": "context.set", "data": {}}, "no_conversation"),
        ({"type": "conversation.end"}, "no_conversation"),
        ({"type": "sync"}, "no_conversation"),
        ({"type": "message.send", "text": "hi"}, "no_conversation"),
        ({"type": "Message.Send"}, "unknown_type"),
        ({"type": ""}, "unknown_type"),
        ({"kind": "ping"}, "bad_frame"),
        ("null", "bad_frame"),
        ('"ping"', "bad_frame"),
        ("{", "bad_json"),
    ],
)
async def test_malformed_frames_get_an_error_and_store_nothing(agent_online, frame, code):
    comm = await _open()
    error = await _error(comm, frame)
    assert error["code"] == code
    await _still_open(comm)
    assert await _count(Conversation) == 0
    await comm.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "typing", "active": "yes"},
        {"type": "context.set", "data": "x"},
        {"type": "message.send", "text": ["hi"], "client_msg_id": "b"},
        {"type": "sync", "last_seen_id": "1"},
    ],
)
async def test_wrong_field_types_in_a_conversation_are_refused(agent_online, frame):
    comm = await _open()
    await _started(comm)
    error = await _error(comm, frame)
    assert error["code"] == "bad_frame"
    await _still_open(comm)
    assert await _count(Message) == 1
    await comm.disconnect()


async def test_errors_echo_the_frames_ref(agent_online):
    comm = await _open()
    await _started(comm)
    error = await _error(
        comm, {"type": "message.send", "text": "x" * 4001, "client_msg_id": "big", "ref": "big"}
    )
    assert (error["code"], error["ref"]) == ("too_long", "big")
    await comm.disconnect()


async def test_text_over_4000_characters_in_a_conversation_is_refused(agent_online):
    comm = await _open()
    await _started(comm)
    error = await _error(comm, {"type": "message.send", "text": "y" * 4001, "client_msg_id": "b"})
    assert error["code"] == "too_long"
    await comm.send_json_to({"type": "message.send", "text": "y" * 4000, "client_msg_id": "c"})
    assert len((await _frame(comm, "message.ack"))["message"]["text"]) == 4000
    await comm.disconnect()


async def test_a_binary_frame_is_refused_and_the_socket_kept(roles):
    comm = await _open()
    await comm.send_to(bytes_data=b"\x00\x01binary")
    error = await _frame(comm, "error")
    assert error["code"] == "binary_not_supported"
    await _still_open(comm)
    await comm.disconnect()


async def test_a_frame_of_multibyte_text_over_64_kib_closes_the_socket(roles):
    comm = await _open()
    # Under 64 Ki characters but over 64 KiB once encoded.
    await comm.send_to(
        text_data=json.dumps({"type": "ping", "pad": "ä" * 40000}, ensure_ascii=False)
    )
    assert (await comm.receive_json_from())["code"] == "frame_too_large"
    assert await comm.receive_output() == {"type": "websocket.close", "code": 4009}


async def test_oversize_context_is_refused_and_loses_nothing_else(agent_online):
    comm = await _open()
    await _started(comm)
    error = await _error(comm, {"type": "context.set", "data": {"blob": "z" * 5000}})
    assert error["code"] == "too_large"
    await comm.send_json_to({"type": "message.send", "text": "still here", "client_msg_id": "c3"})
    await _frame(comm, "message.ack")
    assert await _count(HostContext) == 0
    assert await _count(Message) == 2
    await comm.disconnect()


async def test_oversize_context_on_start_opens_nothing(agent_online):
    comm = await _open()
    error = await _error(
        comm,
        {
            "type": "conversation.start",
            "text": "hi",
            "client_msg_id": "a",
            "context": {"blob": "z" * 5000},
        },
    )
    assert error["code"] == "too_large"
    assert await _count(Conversation) == 0
    await comm.disconnect()


async def test_script_payloads_are_stored_and_delivered_as_plain_text(agent_online):
    comm = await _open()
    started = await _started(comm, text=SCRIPT)
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    await agent.connect()
    await agent.send_json_to(
        {"type": "conversation.claim", "conversation_id": started["conversation"]["id"]}
    )
    claimed = await _frame(agent, "conversation.claim.ok")
    assert claimed["messages"][0]["text"] == SCRIPT
    stored = await database_sync_to_async(Message.objects.get)(sender="visitor")
    assert stored.text == SCRIPT
    await agent.disconnect()
    await comm.disconnect()


async def test_a_wrong_token_resumes_nothing(agent_online):
    comm = await _open()
    error = await _error(comm, {"type": "hello", "token": "A" * 43})
    assert error["code"] == "bad_token"
    error = await _error(comm, {"type": "message.send", "text": "hi", "client_msg_id": "m"})
    assert error["code"] == "no_conversation"
    await comm.disconnect()


async def test_another_conversations_token_cannot_take_over_an_open_socket(agent_online):
    alice = await _open(ip="203.0.113.10")
    mine = await _started(alice, text="Alice's")
    bob = await _open(ip="203.0.113.11")
    theirs = await _started(bob, text="Bob's")
    await _frame(bob, "queue.position")  # Bob's place in the queue, said once
    error = await _error(alice, {"type": "hello", "token": theirs["token"]})
    assert error["code"] == "token_mismatch"
    # A conversation id in a frame is ignored: the socket's own conversation is the only one.
    await alice.send_json_to(
        {
            "type": "message.send",
            "text": "to whom?",
            "client_msg_id": "x1",
            "conversation_id": theirs["conversation"]["id"],
        }
    )
    ack = await _frame(alice, "message.ack")
    assert ack["message"]["conversation_id"] == mine["conversation"]["id"]
    assert await bob.receive_nothing(timeout=0.3)
    await alice.disconnect()
    await bob.disconnect()


async def test_a_missing_or_foreign_origin_is_refused(roles):
    comm = visitor_communicator(origin="")
    connected, code = await comm.connect()
    assert not connected and code == 4003
    comm = visitor_communicator(origin="http://localhost:8000")
    connected, code = await comm.connect()
    assert not connected and code == 4003


async def test_messages_per_connection_are_limited(agent_online, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    comm = await _open()
    await _started(comm)
    for i in range(2):
        await comm.send_json_to({"type": "message.send", "text": "m", "client_msg_id": f"m{i}"})
        await _frame(comm, "message.ack")
    error = await _error(comm, {"type": "message.send", "text": "m", "client_msg_id": "m9"})
    assert error["code"] == "rate_limited"
    assert await _count(Message, client_msg_id="m9") == 0
    await _still_open(comm)
    await comm.disconnect()


async def test_messages_per_ip_are_limited_across_connections(agent_online, settings):
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IP = 3
    one = await _open(ip="198.51.100.5")
    two = await _open(ip="198.51.100.5")
    await _started(one)
    await _started(two, cid="d1")
    codes = []
    for i in range(4):
        comm = one if i % 2 else two
        await comm.send_json_to({"type": "message.send", "text": "m", "client_msg_id": f"n{i}"})
        frame = await comm.receive_json_from(timeout=5)
        while frame["type"] not in ("message.ack", "error"):
            frame = await comm.receive_json_from(timeout=5)
        codes.append(frame.get("code", "ok"))
    assert codes == ["ok", "ok", "ok", "rate_limited"]
    # Another address is not affected.
    other = await _open(ip="198.51.100.6")
    await _started(other, cid="e1")
    await other.send_json_to({"type": "message.send", "text": "m", "client_msg_id": "o1"})
    await _frame(other, "message.ack")
    for comm in (one, two, other):
        await comm.disconnect()


async def test_frame_floods_get_errors_then_a_policy_close(roles, settings):
    settings.CHAT_FRAMES_PER_MINUTE = 3
    comm = await _open()
    for _ in range(3):
        await _still_open(comm)
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["code"] == "rate_limited"
    for _ in range(60):
        await comm.send_json_to({"type": "ping"})
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4029


async def test_connections_per_ip_are_limited(roles, settings):
    settings.CHAT_MAX_CONNECTIONS_PER_IP = 2
    first = await _open(ip="192.0.2.50")
    second = await _open(ip="192.0.2.50")
    third = visitor_communicator(ip="192.0.2.50")
    connected, code = await third.connect()
    assert not connected and code == 4029
    elsewhere = await _open(ip="192.0.2.51")
    await first.disconnect()
    again = await _open(ip="192.0.2.50")
    for comm in (second, elsewhere, again):
        await comm.disconnect()


async def test_sockets_closing_together_all_give_their_slots_back(roles, settings):
    # A network blip closes every socket of an office at once; its visitors must be able to
    # reconnect at once, not wait for forgotten slots to expire.
    settings.CHAT_MAX_CONNECTIONS_PER_IP = 25
    comms = [await _open(ip="192.0.2.60") for _ in range(25)]
    await asyncio.gather(*(comm.disconnect() for comm in comms))
    again = [await _open(ip="192.0.2.60") for _ in range(25)]
    await asyncio.gather(*(comm.disconnect() for comm in again))


async def test_new_conversations_per_ip_are_limited(agent_online, settings):
    settings.CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP = 1
    comm = await _open(ip="192.0.2.77")
    await _started(comm)
    await comm.send_json_to({"type": "conversation.end"})
    await _frame(comm, "conversation.closed")
    error = await _error(
        comm, {"type": "conversation.start", "text": "again", "client_msg_id": "x"}
    )
    assert error["code"] == "rate_limited"
    assert await _count(Conversation) == 1
    await comm.disconnect()


def _online(user):
    from agents.services import profile_get

    profile = profile_get(user=user)
    profile.presence = "online"
    profile.save(update_fields=["presence"])


async def test_a_start_refused_as_unavailable_does_not_use_the_allowance(alice, settings):
    """Nobody online is said first: a visitor retrying then has every new chat of the hour left
    once an agent comes online."""
    settings.CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP = 1
    comm = await _open(ip="192.0.2.78")
    for _ in range(3):
        error = await _error(
            comm, {"type": "conversation.start", "text": "hi", "client_msg_id": "x"}
        )
        assert error["code"] == "unavailable"
    await database_sync_to_async(_online)(alice)
    await _started(comm)
    await comm.send_json_to({"type": "conversation.end"})
    await _frame(comm, "conversation.closed")
    error = await _error(
        comm, {"type": "conversation.start", "text": "again", "client_msg_id": "y"}
    )
    assert error["code"] == "rate_limited"
    assert await _count(Conversation) == 1
    await comm.disconnect()


async def test_a_client_sent_forwarded_for_is_not_believed(agent_online, settings):
    spoof = [(b"x-forwarded-for", b"1.2.3.4")]
    comm = await _open(ip="203.0.113.9", headers=spoof)
    await _started(comm)
    await comm.disconnect()
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.2"]
    proxied = await _open(ip="10.0.0.2", headers=[(b"x-forwarded-for", b"9.9.9.9, 198.51.100.77")])
    await _started(proxied, cid="p1")
    await proxied.disconnect()
    ips = await database_sync_to_async(
        lambda: list(Connection.objects.order_by("id").values_list("ip_address", flat=True))
    )()
    assert ips == ["203.0.113.9", "198.51.100.77"]


async def test_a_ping_is_answered_where_it_arrives_counted_and_limited(
    agent_online, settings, monkeypatch
):
    """As served (helao_chat/serve.py), a `ping` is answered by the socket's consumer where
    Daphne puts the frame, without waking the consumer: still counted against the frame limit
    and as the socket's latest frame."""
    from realtime import sockets

    settings.CHAT_FRAMES_PER_MINUTE = 4
    woken: list[dict] = []

    async def handle_ping(self, frame):
        woken.append(frame)
        await self.send_json(sockets.PONG)

    monkeypatch.setattr(sockets.JsonFrameConsumer, "handle_ping", handle_ping)
    comm = await _open()
    # Daphne's way of sending at once (`reply_now`): straight onto the socket.
    comm._input_queue.reply = lambda text: comm.output_queue.put_nowait(
        {"type": "websocket.send", "text": text}
    )
    (consumer,) = sockets._running
    seen, last = consumer.frames_seen, consumer.last_frame_at
    await comm.send_to(text_data='{"type":"ping"}')  # as the widget sends it
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.send_to(text_data='{"type": "ping"}')
    assert await comm.receive_json_from() == {"type": "pong"}
    assert woken == []
    assert consumer.frames_seen == seen + 2 and consumer.last_frame_at > last
    # Past the limit (four frames a minute here), a ping takes the usual way and is refused.
    await comm.send_to(text_data='{"type":"ping"}')
    await comm.send_to(text_data='{"type":"ping"}')
    assert [await comm.receive_json_from() for _ in range(2)] == [{"type": "pong"}] * 2
    error = await _error(comm, '{"type":"ping"}')
    assert error["code"] == "rate_limited" and woken == []
    await comm.disconnect()
