"""Load shedding: when a process stays behind it refuses a share of new messages, told and
retryable, and takes everything again once it has caught up."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat.consumers import VisitorConsumer
from chat.models import Message
from realtime import admission
from realtime.admission import STEP, SUSTAIN, TICK, Admission
from tests.conftest import agent_communicator, receive_type, visitor_communicator

pytestmark = pytest.mark.asyncio


class Clock:
    """An event loop's `time` and `call_at`, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def call_at(self, when, callback):
        return asyncio.get_running_loop().call_at(10**9, callback)  # never fires by itself


def _ticks(adm: Admission, clock: Clock, n: int, *, lag: float = 0.0, echo=None) -> None:
    """`n` ticks, each `lag` late, with an event coming back after `echo` before each."""
    for _ in range(n):
        if echo is not None:
            adm.delivered(clock.now - echo)
        clock.now = adm.due + lag
        adm._tick()


async def test_a_sustained_delay_grows_the_refused_share_and_catching_up_halves_it(
    settings, caplog
):
    settings.CHAT_SHED_LAG_MS = 250
    clock = Clock()
    adm = Admission(clock)
    # One slow moment (a checkpoint, a full collection) is not an overload.
    _ticks(adm, clock, 3, echo=0.4)
    _ticks(adm, clock, 2)
    assert adm.share == 0 and adm.above_since is None
    # Staying behind is: after SUSTAIN, the share grows by STEP per tick.
    sustain_ticks = round(SUSTAIN / TICK)
    _ticks(adm, clock, sustain_ticks, echo=0.4)
    assert adm.share == 0
    _ticks(adm, clock, 10, echo=0.4)
    assert 8.5 * STEP < adm.share < 11.5 * STEP
    # Between half the limit and the limit it holds.
    held = adm.share
    _ticks(adm, clock, 10, echo=0.2)
    assert adm.share == held
    adm.refused += 7
    # Caught up: back to taking everything within a few ticks.
    _ticks(adm, clock, 5)
    assert adm.share == 0 and not adm.overloaded()
    assert "overloaded: 400 ms behind for 0.5 s" in caplog.text
    assert "caught up: 7 new message(s) refused and 0 new socket(s) told" in caplog.text
    adm.close()


async def test_a_late_event_loop_counts_as_much_as_a_slow_way_back(settings):
    settings.CHAT_SHED_LAG_MS = 250
    clock = Clock()
    adm = Admission(clock)
    _ticks(adm, clock, 6, lag=0.3)
    assert adm.share > 0
    _ticks(adm, clock, 40, echo=0.6)
    assert adm.share == 1.0
    assert all(adm.overloaded() for _ in range(100))
    # No event came back since the last tick: nothing says the process is behind.
    _ticks(adm, clock, 10)
    assert adm.share == 0
    adm.close()


async def test_only_the_senders_own_messages_are_timed(settings):
    settings.CHAT_SHED_LAG_MS = 250
    admission.reset()
    adm = admission._admissions.get()
    now = asyncio.get_running_loop().time()
    sent = []
    socket = VisitorConsumer()
    socket.own_ids = {7: None}  # this socket sent message 7 and was acknowledged
    socket.send_json = lambda frame: _append(sent, frame)

    def event(message_id, **stamp):
        message = {"id": message_id, "sender": "agent"}
        new = {"type": "message.new", "conversation_id": 1, "message": message}
        return {"type": "chat.event", "event": new, **stamp}

    # Someone else's message (perhaps from another process, another clock), and one unstamped.
    await socket.chat_event(event(8, published_at=now - 5))
    await socket.chat_event(event(9))
    assert adm.echo_max == 0
    assert [f["message"]["id"] for f in sent] == [8, 9]
    await socket.chat_event(event(7, published_at=now - 5))
    assert adm.echo_max >= 5
    assert len(sent) == 2, "the sender's own message is not sent back to it"
    admission.reset()


async def _append(frames, frame):
    frames.append(frame)


async def test_refusals_ask_for_a_spread_out_resend_and_none_when_switched_off(settings):
    settings.CHAT_SHED_LAG_MS = 250
    settings.CHAT_SHED_RETRY_MS = 1000
    admission.reset()
    adm = admission._admissions.get()
    adm.share = 1.0
    waits = {admission.refuse() for _ in range(50)}
    assert all(1000 <= w <= 2000 for w in waits) and len(waits) > 10
    assert adm.refused == 50
    settings.CHAT_SHED_LAG_MS = 0
    assert admission.refuse() is None
    admission.reset()


# --- on the sockets ------------------------------------------------------------------------------


_frame = receive_type


@pytest.mark.django_db(transaction=True)
async def test_an_overloaded_process_refuses_new_messages_told_and_stores_the_resend_once(
    agent_online, monkeypatch
):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "conversation.start", "text": "Hei", "client_msg_id": "v1"})
    conv_id = (await _frame(visitor, "conversation.started"))["conversation"]["id"]
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    await agent.connect()
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await _frame(agent, "conversation.claim.ok")

    stored_before = await database_sync_to_async(Message.objects.count)()
    busy = {"wait": 1500}
    monkeypatch.setattr(admission, "refuse", lambda: busy["wait"])
    visitor_msg = {"type": "message.send", "text": "Onko ketään?", "client_msg_id": "v2"}
    await visitor.send_json_to({**visitor_msg, "ref": "v2"})
    refused = await _frame(visitor, "error")
    assert refused == {
        "type": "error",
        "code": "overloaded",
        "message": "the server is busy; nothing was stored, resend shortly",
        "ref": "v2",
        "retry_after_ms": 1500,
    }
    agent_msg = {"conversation_id": conv_id, "text": "Täällä", "client_msg_id": "a1", "ref": "a1"}
    await agent.send_json_to({"type": "message.send", **agent_msg})
    assert (await _frame(agent, "error"))["code"] == "overloaded"
    # A new chat waits too; everything else goes on.
    other = visitor_communicator(ip="203.0.113.8")
    await other.connect()
    await other.send_json_to(
        {"type": "conversation.start", "text": "Hi", "client_msg_id": "o1", "ref": "o1"}
    )
    assert (await _frame(other, "error"))["code"] == "overloaded"
    await visitor.send_json_to({"type": "ping"})
    await _frame(visitor, "pong")
    await visitor.send_json_to({"type": "typing", "active": True})
    assert (await _frame(agent, "typing"))["active"] is True
    assert await database_sync_to_async(Message.objects.count)() == stored_before

    # Caught up: the resends are stored, once each, and reach the other side.
    busy["wait"] = None
    await visitor.send_json_to(visitor_msg)
    await _frame(visitor, "message.ack")
    assert (await _frame(agent, "message.new"))["message"]["text"] == "Onko ketään?"
    await agent.send_json_to({"type": "message.send", **agent_msg})
    await _frame(agent, "message.ack")
    assert (await _frame(visitor, "message.new"))["message"]["text"] == "Täällä"
    await visitor.send_json_to(visitor_msg)  # a resend of a stored message is stored once
    await _frame(visitor, "message.ack")
    texts = await database_sync_to_async(
        lambda: list(
            Message.objects.exclude(sender=Message.Sender.SYSTEM)
            .order_by("id")
            .values_list("text", flat=True)
        )
    )()
    assert texts == ["Hei", "Onko ketään?", "Täällä"]
    for comm in (visitor, agent, other):
        await comm.disconnect()


async def test_new_sockets_are_told_to_come_back_later_in_the_shed_share(settings):
    settings.CHAT_SHED_LAG_MS = 250
    settings.CHAT_SHED_RETRY_MS = 1000
    settings.CHAT_RESTART_SPREAD_SECONDS = 5
    admission.reset()
    adm = admission._admissions.get()
    assert admission.defer_socket() is None, "a process keeping up takes every socket"
    # Turning every socket away: they come back over one to two (1 s + 5 s).
    adm.share = 1.0
    waits = {admission.defer_socket() for _ in range(50)}
    assert all(6000 <= w <= 12000 for w in waits) and len(waits) > 10
    assert adm.deferred == 50
    # Just begun to shed (a tenth): the few turned away come back within one to two 1.5 s.
    adm.share = 0.1
    waits = {w for _ in range(2000) if (w := admission.defer_socket()) is not None}
    assert waits and all(1500 <= w <= 3000 for w in waits)
    settings.CHAT_SHED_LAG_MS = 0
    assert admission.defer_socket() is None
    admission.reset()


@pytest.mark.django_db(transaction=True)
async def test_a_far_behind_process_tells_a_new_visitor_socket_when_to_come_back(
    agent_online, monkeypatch
):
    """As at a restart: a `restart` frame with the delay, then close 4012; nothing is taken in
    (no address slot, no group). A console is let in."""
    from realtime import limits

    monkeypatch.setattr(admission, "defer_socket", lambda: 7000)
    acquired = []
    plain = limits.ip_connection_acquire_async

    async def acquire(ip):
        acquired.append(ip)
        return await plain(ip)

    monkeypatch.setattr(limits, "ip_connection_acquire_async", acquire)
    visitor = visitor_communicator()
    connected, _ = await visitor.connect()
    assert connected
    assert await visitor.receive_json_from(timeout=5) == {"type": "restart", "retry_after_ms": 7000}
    assert (await visitor.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4012}
    assert acquired == []
    agent = await database_sync_to_async(agent_communicator)(agent_online)
    connected, _ = await agent.connect()
    assert connected
    await agent.send_json_to({"type": "ping"})
    await _frame(agent, "pong")
    await agent.disconnect()
    # Caught up: taken in again.
    monkeypatch.setattr(admission, "defer_socket", lambda: None)
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to({"type": "ping"})
    await _frame(again, "pong")
    assert len(acquired) == 1
    await again.disconnect()
