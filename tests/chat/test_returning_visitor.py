"""A visitor coming back: their chat, its newest connection and page read in one query, and a
connection or page stored only when it changed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.consumers import _resume
from chat.models import Conversation, Message, PageVisit, VisitorConnection, hash_token
from chat.selectors import returning_visitor
from chat.services import VisitorInfo

pytestmark = pytest.mark.django_db

TOKEN = "returning-visitor-token-of-forty-chars-x"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
PAGE = {"url": "https://example.org/orders/", "title": "Orders"}


def _info(screen: str = "1920x1080", ip: str = "203.0.113.7") -> VisitorInfo:
    return VisitorInfo(ip_address=ip, user_agent=FIREFOX, language="fi", screen=screen)


def _resume_with(info: VisitorInfo, page: dict[str, str] | None) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        returning = returning_visitor(TOKEN)
        assert returning is not None
        welcome = _resume(returning, info, page, None, {"type": "welcome"})
    return welcome, [q["sql"] for q in queries]


@pytest.fixture
def chat(alice):
    conversation = Conversation.objects.create(
        token_hash=hash_token(TOKEN), status=Conversation.Status.ACTIVE, assigned_agent=alice
    )
    Message.objects.create(conversation=conversation, sender="visitor", text="Hello")
    return conversation


def test_the_newest_connection_and_page_come_with_the_chat(chat):
    assert returning_visitor(TOKEN).connection is None
    assert returning_visitor(TOKEN).page is None
    VisitorConnection.objects.create(conversation=chat, ip_address="203.0.113.1", screen="800x600")
    VisitorConnection.objects.create(conversation=chat, ip_address="203.0.113.2", browser="Edge")
    PageVisit.objects.create(conversation=chat, url="https://example.org/a", title="A")
    PageVisit.objects.create(conversation=chat, url="https://example.org/b", title="B")

    returning = returning_visitor(TOKEN)

    assert returning.conversation == chat
    assert returning.conversation.assigned_agent.username == "alice"
    assert returning.connection == {
        "ip_address": "203.0.113.2",
        "user_agent": "",
        "browser": "Edge",
        "os": "",
        "device_type": "",
        "screen": "",
    }
    assert returning.page == ("https://example.org/b", "B")
    # The newest rows were read for the comparison only: the chat carries nothing of them.
    assert not [name for name in vars(returning.conversation) if name.startswith("newest_")]


def test_a_token_of_no_chat_or_of_the_wrong_shape_finds_nothing(chat):
    assert returning_visitor("x" * 40) is None
    assert returning_visitor("short") is None
    assert returning_visitor(None) is None
    assert returning_visitor(12345678901234567890123) is None


def test_a_resume_stores_a_connection_or_a_page_only_when_it_changed(chat):
    welcome, _ = _resume_with(_info(), PAGE)
    assert [m["text"] for m in welcome["messages"]] == ["Hello"]
    assert VisitorConnection.objects.filter(conversation=chat).count() == 1
    assert PageVisit.objects.filter(conversation=chat).count() == 1

    # The same device, address and page: the chat and its messages read, nothing written and
    # no transaction opened.
    _, statements = _resume_with(_info(), PAGE)
    assert len(statements) == 2
    assert not [s for s in statements if not s.startswith("SELECT")]
    assert VisitorConnection.objects.filter(conversation=chat).count() == 1
    assert PageVisit.objects.filter(conversation=chat).count() == 1

    _resume_with(_info(screen="390x844"), PAGE)
    assert list(
        VisitorConnection.objects.filter(conversation=chat).values_list("screen", flat=True)
    ) == ["1920x1080", "390x844"]
    assert PageVisit.objects.filter(conversation=chat).count() == 1

    _resume_with(_info(screen="390x844", ip="198.51.100.9"), {**PAGE, "title": "Orders (2)"})
    assert VisitorConnection.objects.filter(conversation=chat).count() == 3
    assert list(PageVisit.objects.filter(conversation=chat).values_list("title", flat=True)) == [
        "Orders",
        "Orders (2)",
    ]


def test_a_closed_chat_resumes_without_storing_anything(chat):
    Conversation.objects.filter(pk=chat.pk).update(status=Conversation.Status.CLOSED)
    welcome, statements = _resume_with(_info(), PAGE)
    assert welcome["conversation"]["status"] == "closed"
    assert not [s for s in statements if not s.startswith("SELECT")]
    assert not VisitorConnection.objects.filter(conversation=chat).exists()
    assert not PageVisit.objects.filter(conversation=chat).exists()
