"""The panel's greeting: edited by the service director in admin, one per language, sent with
the welcome (with the names of the agents online if the director allows), nothing stored."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat.models import Conversation, Greeting
from tests.conftest import receive_type, visitor_communicator

HELLO = {
    "fi": "Hei! Miten voimme auttaa?",
    "sv": "Hej! Hur kan vi hjälpa?",
    "en": "Hi! How can we help?",
}


async def _welcome(lang: str) -> dict:
    comm = visitor_communicator()
    await comm.connect()
    await comm.send_json_to({"type": "hello", "lang": lang})
    welcome = await receive_type(comm, "welcome")
    await comm.disconnect()
    return welcome


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_welcome_greets_in_the_panels_language_and_stores_nothing(agent_online):
    for lang, text in HELLO.items():
        await database_sync_to_async(Greeting.objects.create)(language=lang, text=text)
    for lang, text in HELLO.items():
        assert (await _welcome(lang))["greeting"] == {"text": text, "agents": []}
    assert await database_sync_to_async(Conversation.objects.count)() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_names_of_the_agents_online_come_only_if_the_director_allows(agent_online):
    greeting = await database_sync_to_async(Greeting.objects.create)(
        language="fi", text=HELLO["fi"], show_agent_names=True
    )
    assert (await _welcome("fi"))["greeting"]["agents"] == ["Alice Agent"]
    greeting.show_agent_names = False
    await database_sync_to_async(greeting.save)()
    assert (await _welcome("fi"))["greeting"]["agents"] == []
    # No greeting in this language: none at all.
    assert (await _welcome("sv"))["greeting"] is None


@pytest.mark.django_db
def test_the_service_director_edits_greetings_in_admin_and_agents_may_not(dana, alice):
    director = Client()
    director.force_login(dana)
    response = director.post(
        "/admin/chat/greeting/add/",
        {"language": "fi", "text": HELLO["fi"], "show_agent_names": "on"},
    )
    assert response.status_code == 302
    assert Greeting.objects.get(language="fi").show_agent_names is True
    agent = Client()
    agent.force_login(alice)
    assert agent.get("/admin/chat/greeting/").status_code in (302, 403)
