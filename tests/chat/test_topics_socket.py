"""Topics on the visitor's socket: the host page's topic, the picker list, per-topic hours."""

from __future__ import annotations

from datetime import time

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, OpeningHours, Topic
from tests.conftest import visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def _topics():
    courses = Topic.objects.create(
        slug="courses", name_fi="Kurssit", name_sv="Kurser", name_en="Courses", pickable=True
    )
    Topic.objects.create(
        slug="payments",
        name_fi="Maksut",
        name_sv="Betalningar",
        name_en="Payments",
        pickable=True,
        position=1,
    )
    OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(16))
    OpeningHours.objects.create(topic=courses, weekday=2, opens=time(10), closes=time(12))


async def _hello(comm, **fields):
    await comm.send_json_to({"type": "hello", "lang": "sv", **fields})
    return await comm.receive_json_from(timeout=10)


async def test_the_welcome_lists_the_picker_topics_in_the_visitors_language(agent_online):
    await _topics()
    comm = visitor_communicator()
    await comm.connect()
    welcome = await _hello(comm)
    assert welcome["topics"] == [
        {"slug": "courses", "name": "Kurser"},
        {"slug": "payments", "name": "Betalningar"},
    ]
    assert welcome["opening_hours"] == [{"weekday": 0, "opens": "09:00", "closes": "16:00"}]
    await comm.disconnect()


async def test_a_topic_with_its_own_hours_shows_them(agent_online):
    await _topics()
    comm = visitor_communicator()
    await comm.connect()
    welcome = await _hello(comm, topic="courses")
    assert welcome["opening_hours"] == [{"weekday": 2, "opens": "10:00", "closes": "12:00"}]
    # An unknown topic is the default topic's (the general) hours, never an error.
    again = await _hello(comm, topic="nope")
    assert again["type"] == "welcome"
    assert again["opening_hours"] == [{"weekday": 0, "opens": "09:00", "closes": "16:00"}]
    await comm.disconnect()


@pytest.mark.parametrize(
    ("sent", "expected"), [("payments", "payments"), ("unknown", "general"), (None, "general")]
)
async def test_a_chat_starts_in_the_topic_it_names_else_the_default(agent_online, sent, expected):
    await _topics()
    comm = visitor_communicator()
    await comm.connect()
    frame = {"type": "conversation.start", "text": "Hei", "client_msg_id": "c1", "lang": "fi"}
    if sent is not None:
        frame["topic"] = sent
    await comm.send_json_to(frame)
    started = await comm.receive_json_from(timeout=10)
    assert started["type"] == "conversation.started"
    conversation = await database_sync_to_async(Conversation.objects.select_related("topic").get)()
    assert conversation.topic.slug == expected
    assert started["conversation"]["topic_id"] == conversation.topic_id
    await comm.disconnect()
