"""The identifier guard end to end: through the real sockets and HTTP endpoints, into the
database, to the other side, into exports and logs; and what the register keeps of pages, host
context and user agents."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from chat import writer
from chat.models import Conversation, HostContext, Message, PageVisit, VisitorConnection
from dsr import data_requests
from feedback.models import Feedback
from feedback.selectors import feedback_for
from tests.conftest import agent_communicator, receive_type, visitor_communicator
from tests.feedback.factories import conversation

pytestmark = pytest.mark.django_db(transaction=True)

CODE = "131052-308T"
CARD = "4111 1111 1111 1111"
IBAN = "FI21 1234 5600 0007 85"
ORIGINALS = (CODE, CARD, IBAN, "131052", "4111111111111111", "FI2112345600000785")
PAGE = {"url": "https://www.example.org/", "title": "Home", "referrer": ""}
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


async def _message_from(comm, sender: str) -> dict:
    """The next `message.new` written by `sender` (the claim's system line may come first)."""
    for _ in range(10):
        frame = await receive_type(comm, "message.new")
        if frame["message"]["sender"] == sender:
            return frame
    raise AssertionError(f"no message from {sender}")


def _has_original(text: str) -> bool:
    return any(original in text for original in ORIGINALS)


async def _visitor_and_agent(agent, **start):
    """A chat an agent has taken: (visitor socket, agent socket, conversation id)."""
    console = await database_sync_to_async(agent_communicator)(agent)
    assert (await console.connect())[0]
    await console.send_json_to({"type": "hello"})
    await receive_type(console, "welcome")
    visitor = visitor_communicator()
    assert (await visitor.connect())[0]
    frame = {"type": "conversation.start", "text": "Hei", "client_msg_id": "v0", "page": PAGE}
    await visitor.send_json_to({**frame, **start})
    started = await receive_type(visitor, "conversation.started")
    conv_id = started["conversation"]["id"]
    await receive_type(visitor, "message.ack")
    await console.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await receive_type(console, "conversation.claim.ok")
    return visitor, console, conv_id, started


def _texts(conv_id: int) -> list[str]:
    return list(Message.objects.filter(conversation_id=conv_id).values_list("text", flat=True))


def _export(conv_id: int) -> tuple[str, str]:
    conversation = Conversation.objects.get(pk=conv_id)
    data = data_requests.conversation_export(conversation=conversation)
    return data_requests.export_as_json(data), data_requests.export_as_text(data)


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "orm"])
async def test_identifiers_in_messages_are_hidden_everywhere_on_both_write_paths(
    agent_online, settings, caplog, group_commit
):
    settings.CHAT_GROUP_COMMIT = group_commit
    caplog.set_level(logging.DEBUG)
    visitor, console, conv_id, _ = await _visitor_and_agent(agent_online)
    # The visitor writes into an active chat: the writer's path when group commit is on.
    text = f"Hetu {CODE}, kortti {CARD}, tili {IBAN}. Puh 040 123 4567, tilaus 12.10.2026."
    await visitor.send_json_to({"type": "message.send", "text": text, "client_msg_id": "v1"})
    ack = await receive_type(visitor, "message.ack")
    masked = "Hetu \ue000pic\ue001, kortti \ue000card\ue001, tili \ue000iban\ue001. "
    masked += "Puh 040 123 4567, tilaus 12.10.2026."
    assert ack["message"]["text"] == masked
    seen = await _message_from(console, "visitor")
    assert seen["message"]["text"] == masked
    # The agent's own message goes the same way.
    await console.send_json_to(
        {
            "type": "message.send",
            "conversation_id": conv_id,
            "client_msg_id": "a1",
            "text": f"Tarkistin tunnuksen {CODE.lower()}.",
        }
    )
    agent_ack = await receive_type(console, "message.ack")
    assert agent_ack["message"]["text"] == "Tarkistin tunnuksen \ue000pic\ue001."
    got = await _message_from(visitor, "agent")
    assert got["message"]["text"] == "Tarkistin tunnuksen \ue000pic\ue001."
    if group_commit and connection.vendor == "postgresql":
        # The agent's message went through the group-commit writer (the visitor's too, unless
        # its socket had not yet heard that the chat was taken: then the general path).
        assert writer.writer().stored >= 1
    stored = await database_sync_to_async(_texts)(conv_id)
    assert masked in stored
    assert not any(_has_original(t) for t in stored)
    with translation.override("fi"):
        as_json, as_text = await database_sync_to_async(_export)(conv_id)
    assert "Hetu [henkilötunnus], kortti [kortin numero], tili [tilinumero]." in as_text
    assert "[henkilötunnus]" in json.loads(as_json)["placeholders"]
    assert "HIDDEN NUMBERS" in as_text
    assert not _has_original(as_json + as_text)
    assert not _has_original(caplog.text)
    await visitor.disconnect()
    await console.disconnect()


async def test_under_warn_the_text_is_stored_as_typed(agent_online, settings):
    settings.CHAT_IDENTIFIER_POLICY = "warn"
    visitor, console, _, _ = await _visitor_and_agent(agent_online)
    await visitor.send_json_to({"type": "message.send", "text": f"{CODE}", "client_msg_id": "v1"})
    assert (await receive_type(visitor, "message.ack"))["message"]["text"] == CODE
    await visitor.disconnect()
    await console.disconnect()


async def test_stray_marker_characters_cannot_break_a_placeholder(agent_online):
    visitor, console, _, _ = await _visitor_and_agent(agent_online)
    await visitor.send_json_to(
        {"type": "message.send", "text": "a \ue000card b\ue001", "client_msg_id": "v1"}
    )
    assert (await receive_type(visitor, "message.ack"))["message"]["text"] == "a card b"
    await visitor.disconnect()
    await console.disconnect()


async def test_titles_urls_and_context_values_are_masked_as_they_arrive(agent_online, settings):
    settings.CHAT_CONTEXT_KEYS = ["customer", "note"]
    settings.CHAT_PAGE_QUERY_PARAMS = ["course", "contact"]
    page = {
        "url": f"https://www.example.org/u/visitor0%40example.fi/{CODE}"
        "?email=visitor0%40example.fi&course=B-12&contact=visitor0%40example.fi#top",
        "title": f"Profile of {CODE} (visitor0@example.fi)",
        "referrer": "https://search.example.com/search?q=my+personal+code",
    }
    visitor, console, conv_id, started = await _visitor_and_agent(
        agent_online,
        page=page,
        context={"customer": "C-1", "note": f"card {CARD}", "logged_in_name": "Ville Vieras"},
    )
    assert started["context_dropped"] == 1

    def stored():
        visit = PageVisit.objects.get(conversation_id=conv_id)
        return visit.url, visit.title, visit.referrer, HostContext.objects.get().data

    url, title, referrer, context = await database_sync_to_async(stored)()
    assert url == (
        "https://www.example.org/u/\ue000email\ue001/\ue000pic\ue001"
        "?course=B-12&contact=\ue000email\ue001"
    )
    assert title == "Profile of \ue000pic\ue001 (\ue000email\ue001)"
    assert referrer == "https://search.example.com/"
    assert context == {"customer": "C-1", "note": "card \ue000card\ue001"}
    # A page change later, and the context set again, with a key nobody listed.
    await visitor.send_json_to(
        {"type": "page.view", "page": {"url": "https://www.example.org/x", "title": CODE}}
    )
    view = await receive_type(console, "page.view")
    assert view["page"]["title"] == "\ue000pic\ue001"
    await visitor.send_json_to(
        {"type": "context.set", "data": {"customer": CODE, "logged_in_name": "V", "x": 1}}
    )
    ack = await receive_type(visitor, "context.ack")
    assert (ack["stored"], ack["dropped"]) == (1, 2)
    ctx = await receive_type(console, "context.set")
    assert ctx["context"] == {"customer": "\ue000pic\ue001"}
    as_json, as_text = await database_sync_to_async(_export)(conv_id)
    assert "logged_in_name" not in as_json
    assert not _has_original(as_json + as_text)
    assert "visitor0@example.fi" not in as_json + as_text
    await visitor.disconnect()
    await console.disconnect()


async def test_pages_keep_no_query_or_fragment_unless_listed(agent_online):
    page = {
        "url": "https://www.example.org/courses/?email=visitor0%40example.fi&utm_source=x#top",
        "title": "Courses",
        "referrer": "https://www.example.org/start?session=abc#x",
    }
    visitor, console, conv_id, started = await _visitor_and_agent(agent_online, page=page)
    visit = await database_sync_to_async(PageVisit.objects.get)(conversation_id=conv_id)
    assert visit.url == "https://www.example.org/courses/"
    # From the same site: the page is kept, its query is not.
    assert visit.referrer == "https://www.example.org/start"
    assert started["context_dropped"] == 0
    await visitor.disconnect()
    await console.disconnect()


async def test_host_context_keys_nobody_listed_are_dropped_and_counted(agent_online):
    visitor, console, _, started = await _visitor_and_agent(
        agent_online, context={"logged_in_name": "Ville Vieras", "customer": "C-1"}
    )
    assert started["context_dropped"] == 2
    await visitor.send_json_to({"type": "context.set", "data": {"logged_in_name": "V"}})
    ack = await receive_type(visitor, "context.ack")
    assert (ack["stored"], ack["dropped"]) == (0, 1)
    assert await database_sync_to_async(HostContext.objects.count)() == 0
    await visitor.disconnect()
    await console.disconnect()


@pytest.mark.parametrize("keep", [False, True], ids=["parsed-only", "raw-kept"])
async def test_the_raw_user_agent_is_stored_only_when_asked(agent_online, settings, keep):
    settings.CHAT_STORE_USER_AGENT = keep
    visitor, console, conv_id, _ = await _visitor_and_agent(agent_online)
    row = await database_sync_to_async(VisitorConnection.objects.get)(conversation_id=conv_id)
    assert (row.browser, row.os, row.device_type) == ("Firefox", "Linux", "desktop")
    assert row.user_agent == (UA if keep else "")
    as_json, _ = await database_sync_to_async(_export)(conv_id)
    assert (UA in as_json) is keep
    await visitor.disconnect()
    await console.disconnect()


def test_a_feedback_comment_with_an_identifier_is_stored_masked(agent_online, caplog):
    caplog.set_level(logging.DEBUG)
    conv, token = conversation(
        created_at=timezone.now() - timedelta(minutes=10), agent=agent_online, wait=30, length=300
    )
    client = Client()
    response = client.post(
        "/feedback/submit",
        data=json.dumps({"token": token, "service_satisfied": True, "comment": f"hetu {CODE}"}),
        content_type="application/json",
        HTTP_ORIGIN="http://testserver",
    )
    assert response.status_code == 200
    assert Feedback.objects.get().comment == "hetu \ue000pic\ue001"
    assert feedback_for(conv.pk)["comment"] == "hetu \ue000pic\ue001"
    # The export speaks the chat's language (Finnish here), whoever runs it.
    with translation.override("sv"):
        as_text = data_requests.export_as_text(data_requests.conversation_export(conversation=conv))
    assert "Kommentti: hetu [henkilötunnus]" in as_text
    assert not _has_original(as_text + caplog.text)
