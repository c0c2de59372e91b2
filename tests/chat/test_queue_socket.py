"""Queue position and wait estimate over the sockets: each waiting visitor hears its own place
when the queue changes (never per message), consoles hear every chat's estimate."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation
from tests.conftest import agent_communicator, receive_type, visitor_communicator, visitor_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PAGE = {"url": "https://www.example.org/", "title": "Home", "referrer": ""}


async def _visitor(text: str, lang: str = "en"):
    return await visitor_start(text=text, page=PAGE, lang=lang)


async def _console(user):
    comm = await database_sync_to_async(agent_communicator)(user)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "hello"})
    welcome = await receive_type(comm, "welcome")
    return comm, welcome


async def test_each_waiting_visitor_hears_its_place_and_it_moves_up_when_one_ahead_is_taken(
    agent_online,
):
    first, _ = await _visitor("First")
    placed = await receive_type(first, "queue.position")
    assert placed["position"] == 1
    assert placed["estimate"] == {"kind": "few"}
    assert placed["text"] == "You are 1st in the queue. Estimated wait: a few minutes."

    second, started = await _visitor("Second", lang="fi")
    placed = await receive_type(second, "queue.position")
    assert placed["position"] == 2
    assert placed["text"] == "Olet jonossa sijalla 2. Arvioitu odotusaika: 3–12 minuuttia."
    # The first visitor's words did not change: nothing is said to them.
    assert await first.receive_nothing(timeout=0.5)

    console, welcome = await _console(agent_online)
    assert [(e["position"], e["estimate"]["kind"]) for e in welcome["queue_estimates"]] == [
        (1, "few"),
        (2, "range"),
    ]
    first_id = welcome["queue_estimates"][0]["id"]
    await console.send_json_to({"type": "conversation.claim", "conversation_id": first_id})
    changed = await receive_type(console, "queue.changed")
    assert [(e["id"], e["position"]) for e in changed["items"]] == [
        (started["conversation"]["id"], 1)
    ]
    moved = await receive_type(second, "queue.position")
    assert moved["position"] == 1
    assert moved["text"] == "Olet jonossa sijalla 1. Arvioitu odotusaika: muutama minuutti."
    # A message is not a queue change: no estimate is read or sent for it.
    await second.send_json_to({"type": "message.send", "text": "Still here", "client_msg_id": "c2"})
    await receive_type(second, "message.ack")
    assert await second.receive_nothing(timeout=0.5)
    for comm in (first, second, console):
        await comm.disconnect()


async def test_a_returning_visitor_gets_the_place_in_the_welcome(agent_online):
    await _visitor("Ahead")
    comm, started = await _visitor("Behind", lang="sv")
    await comm.disconnect()
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to({"type": "hello", "token": started["token"], "lang": "sv"})
    welcome = await receive_type(again, "welcome")
    assert welcome["queue"]["position"] == 2
    assert welcome["queue"]["text"] == "Du är nummer 2 i kön. Beräknad väntetid: 3–12 minuter."
    await again.disconnect()


async def test_a_visitor_who_ends_a_waiting_chat_moves_the_ones_behind(agent_online):
    first, _ = await _visitor("First")
    second, _ = await _visitor("Second")
    assert (await receive_type(second, "queue.position"))["position"] == 2
    await first.send_json_to({"type": "conversation.end"})
    assert (await receive_type(second, "queue.position"))["position"] == 1
    statuses = await database_sync_to_async(
        lambda: sorted(Conversation.objects.values_list("status", flat=True))
    )()
    assert statuses == ["closed", "waiting"]
    for comm in (first, second):
        await comm.disconnect()


# --- a message left while nobody is online -----------------------------------------------------


async def _welcome(comm, **hello):
    await comm.send_json_to({"type": "hello", **hello})
    return await receive_type(comm, "welcome")


async def test_with_nobody_online_a_visitor_may_leave_a_message_and_add_to_it(alice):
    from datetime import time

    from django.utils import timezone

    from chat.models import OpeningHours

    tomorrow = (timezone.localdate().weekday() + 1) % 7
    await database_sync_to_async(OpeningHours.objects.create)(
        weekday=tomorrow, opens=time(9), closes=time(10)
    )
    comm = visitor_communicator()
    await comm.connect()
    welcome = await _welcome(comm)
    assert welcome["agents_online"] is False
    assert welcome["answer"] == {
        "open_now": False,
        "next_opening": {"weekday": tomorrow, "time": "09:00"},
    }
    await comm.send_json_to(
        {
            "type": "conversation.start",
            "text": "Call me 010101-123N",
            "client_msg_id": "m1",
            "offline": True,
        }
    )
    started = await receive_type(comm, "conversation.started")
    ack = await receive_type(comm, "message.ack")
    # The identifier guard applies as in any chat.
    assert "010101-123N" not in ack["message"]["text"]
    await comm.send_json_to({"type": "message.send", "text": "Also this", "client_msg_id": "m2"})
    assert (await receive_type(comm, "message.ack"))["message"]["text"] == "Also this"
    conv = await database_sync_to_async(Conversation.objects.get)(pk=started["conversation"]["id"])
    assert conv.left_offline and conv.status == "waiting"
    # Not in the queue: it has no place there, and nobody hears a queue announcement about it.
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()

    # In the morning the agent finds it in the console's own list, not in the queue's count.
    console, agent_welcome = await _console(alice)
    assert [(q["id"], q["offline"]) for q in agent_welcome["queue"]] == [(conv.pk, True)]
    assert agent_welcome["queue_estimates"] == []
    await console.disconnect()


async def test_without_asking_to_leave_a_message_nobody_online_still_refuses(alice):
    comm = visitor_communicator()
    await comm.connect()
    await _welcome(comm)
    for offline in (False, "yes"):
        await comm.send_json_to(
            {"type": "conversation.start", "text": "hi", "client_msg_id": "x", "offline": offline}
        )
        error = await receive_type(comm, "error")
        assert error["code"] == ("unavailable" if offline is False else "bad_frame")
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    await comm.disconnect()


async def test_a_message_left_when_an_agent_has_come_online_is_an_ordinary_chat(agent_online):
    comm, started = await _visitor("Hello")
    await comm.disconnect()
    conv = await database_sync_to_async(Conversation.objects.get)(pk=started["conversation"]["id"])
    assert conv.left_offline is False
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_json_to(
        {"type": "conversation.start", "text": "Hi", "client_msg_id": "c1", "offline": True}
    )
    started = await receive_type(comm, "conversation.started")
    assert (await receive_type(comm, "queue.position"))["position"] == 2
    await comm.disconnect()


async def test_each_topic_is_its_own_line(agent_online):
    """A chat's place counts the chats of its own topic: a visitor asking about payments is
    first in that line however many wait with questions about courses."""
    from chat.models import Topic

    await database_sync_to_async(Topic.objects.create)(
        slug="courses", name_fi="Kurssit", name_sv="Kurser", name_en="Courses"
    )
    await database_sync_to_async(Topic.objects.create)(
        slug="payments", name_fi="Maksut", name_sv="Betalningar", name_en="Payments"
    )
    comms = []
    for text, topic in (("A", "courses"), ("B", "courses"), ("C", "payments")):
        comm = visitor_communicator()
        assert (await comm.connect())[0]
        await comm.send_json_to(
            {
                "type": "conversation.start",
                "text": text,
                "client_msg_id": "c1",
                "page": PAGE,
                "lang": "en",
                "topic": topic,
            }
        )
        await receive_type(comm, "conversation.started")
        comms.append(comm)
    places = [(await receive_type(comm, "queue.position"))["position"] for comm in comms]
    assert places == [1, 2, 1]
    console, welcome = await _console(agent_online)
    assert [e["position"] for e in welcome["queue_estimates"]] == [1, 2, 1]
    for comm in (*comms, console):
        await comm.disconnect()
