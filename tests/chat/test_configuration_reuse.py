"""The director's configuration as visitors' hellos read it (chat/configuration.py): read at
once, reused by the process for a second, forgotten at once by a change saved here, and seen
within the second when another process changes it."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import configuration, consumers, hooks, topics
from chat.models import Greeting, OpeningHours, Topic
from realtime import units
from tests.conftest import receive_type, visitor_communicator

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_read_is_reused_within_the_second_and_read_again_after_it(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(configuration.time, "monotonic", lambda: clock[0])
    first = configuration.current()
    # Changed through another process: no signal here.
    Greeting.objects.bulk_create([Greeting(language="sv", text="Hej!")])
    clock[0] += configuration.REUSE_SECONDS / 2
    assert configuration.current() is first and "sv" not in first.greetings
    clock[0] += configuration.REUSE_SECONDS
    assert configuration.current().greetings["sv"].text == "Hej!"


def test_a_change_saved_in_this_process_is_seen_at_once():
    assert topics.topic_choices("fi") == []
    for slug in ("kurssit", "maksut"):
        Topic.objects.create(slug=slug, name_fi=slug, name_sv=slug, name_en=slug, pickable=True)
    assert [t["slug"] for t in topics.topic_choices("fi")] == ["kurssit", "maksut"]
    OpeningHours.objects.create(weekday=0, opens="08:00", closes="16:00")
    assert configuration.current().hours_of(None) == [
        {"weekday": 0, "opens": "08:00", "closes": "16:00"}
    ]
    Topic.objects.get(slug="maksut").delete()
    assert topics.topic_choices("fi") == []


@pytest.mark.asyncio
async def test_a_hello_with_an_agent_online_runs_no_database_unit(agent_online, monkeypatch):
    ran = []
    plain = units.run_unit

    async def counted(func, *args, **kwargs):
        ran.append(func.__name__)
        return await plain(func, *args, **kwargs)

    monkeypatch.setattr(
        consumers.JsonFrameConsumer, "unit", lambda self, f, *a, **k: counted(f, *a, **k)
    )
    comm = visitor_communicator()
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "hello", "lang": "fi"})
    first = await receive_type(comm, "welcome")
    assert ran == ["_availability"], "the first hello reads the configuration"
    await comm.send_json_to({"type": "hello", "lang": "fi"})
    second = await receive_type(comm, "welcome")
    assert ran == ["_availability"], "the second answers from the process's reads"
    assert first == second and second["agents_online"] is True
    # Nobody online: when a message left now gets an answer is read from the database.
    hooks.agents_online_forget()
    monkeypatch.setattr(hooks, "agents_online_reused", lambda: False)
    await comm.send_json_to({"type": "hello", "lang": "fi"})
    await receive_type(comm, "welcome")
    assert ran == ["_availability", "_availability"]
    await comm.disconnect()


@pytest.mark.asyncio
async def test_a_greeting_that_names_the_agents_online_is_read_with_them(agent_online):
    await database_sync_to_async(Greeting.objects.create)(
        language="fi", text="Hei!", show_agent_names=True
    )
    comm = visitor_communicator()
    assert (await comm.connect())[0]
    for _ in range(2):
        await comm.send_json_to({"type": "hello", "lang": "fi"})
        welcome = await receive_type(comm, "welcome")
        assert welcome["greeting"]["text"] == "Hei!" and welcome["greeting"]["agents"]
    await comm.disconnect()
