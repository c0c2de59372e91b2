"""The floor view: who may see it, what it shows, and that following a live chat is audited and
read-only."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import Client

from agents.models import AgentProfile
from agents.roles import TEAM_LEAD
from agents.services import guidance_acknowledge
from chat.models import AuditEvent, Conversation, Topic
from chat.services import conversation_start, visitor_info
from tests.conftest import _user

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(roles):
    user = _user("tina", first="Tina", last="Lead", group=TEAM_LEAD)
    guidance_acknowledge(user=user, actor_ip=None)
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _chat(text="Hei") -> Conversation:
    info = visitor_info(ip_address="192.0.2.1", user_agent="", language="fi", screen="")
    conversation, _, _ = conversation_start(
        info=info, page=None, context=None, text=text, client_msg_id="c1"
    )
    return conversation


@pytest.mark.parametrize("path", ["/console/floor/", "/console/floor/data/"])
def test_only_team_leads_and_the_director_see_the_floor(alice, charlie, dana, lead, path):
    guidance_acknowledge(user=alice, actor_ip=None)
    guidance_acknowledge(user=dana, actor_ip=None)
    assert _client(alice).get(path).status_code == 403
    assert _client(charlie).get(path).status_code == 403
    assert _client(lead).get(path).status_code == 200
    assert _client(dana).get(path).status_code == 200
    assert Client().get(path).status_code == 302


def test_the_floor_needs_the_guidance_acknowledged(roles):
    user = _user("tom", group=TEAM_LEAD)
    response = _client(user).get("/console/floor/")
    assert response.status_code == 302 and response["Location"].endswith("/console/guidance/")


def test_the_floor_shows_agents_load_topics_and_waiting_chats(lead, alice, bob):
    AgentProfile.objects.create(user=alice, presence="online", capacity=2)
    AgentProfile.objects.create(user=bob, presence="offline")
    payments = Topic.objects.create(
        slug="payments", name_fi="Maksut", name_sv="Betalningar", name_en="Payments"
    )
    taken = _chat()
    Conversation.objects.filter(pk=taken.pk).update(status="active", assigned_agent=alice)
    waiting = _chat("Apua")
    Conversation.objects.filter(pk=waiting.pk).update(topic=payments)
    AgentProfile.objects.filter(user=lead).update(language="en")
    data = _client(lead).get("/console/floor/data/").json()
    assert [(a["name"], a["presence"], a["load"], a["capacity"]) for a in data["agents"]] == [
        ("Alice Agent", "online", 1, 2)
    ]
    topics = {t["name"]: t for t in data["topics"]}
    assert topics["Payments"]["waiting"] == 1 and topics["Payments"]["active"] == 0
    assert topics["General"]["active"] == 1 and topics["General"]["waiting"] == 0
    chats = {c["reference"]: c for c in data["chats"]}
    assert chats[waiting.reference]["status"] == "waiting"
    assert chats[taken.reference]["agent"] == "Alice Agent"


def test_following_a_live_chat_is_audited_and_its_updates_need_the_opening(lead):
    conversation = _chat("Hei")
    client = _client(lead)
    url = f"/console/floor/chat/{conversation.reference}/"
    # No updates for a chat this login has not opened.
    assert client.get(url + "messages/").status_code == 404
    response = client.get(url)
    assert response.status_code == 200
    assert "Hei" in response.content.decode()
    # Read-only: the page has no message box.
    assert "<textarea" not in response.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_MONITORED)
    assert event.actor == lead and event.object_ref == conversation.reference
    first = conversation.messages.order_by("id").first()
    data = client.get(url + "messages/", {"after": first.pk}).json()
    assert data == {"status": "waiting", "messages": []}
    assert client.get(url + "messages/", {"after": "x"}).status_code == 400
    # Only opening is audited, not each update.
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_MONITORED).count() == 1
    # The visitor's export tells when staff looked, as for a transcript.
    from dsr.data_requests import conversation_export

    exported = conversation_export(conversation=conversation)
    [opened] = exported["transcript_opened_by_staff_at"]
    assert datetime.fromisoformat(opened) == event.created_at


def test_an_ended_or_unknown_chat_cannot_be_followed(lead):
    conversation = _chat()
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")
    client = _client(lead)
    assert client.get(f"/console/floor/chat/{conversation.reference}/").status_code == 404
    assert client.get("/console/floor/chat/NOPE0-NOPE0/").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_MONITORED).exists()


def test_an_agent_cannot_follow_a_chat(alice):
    guidance_acknowledge(user=alice, actor_ip=None)
    conversation = _chat()
    response = _client(alice).get(f"/console/floor/chat/{conversation.reference}/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_MONITORED).exists()
