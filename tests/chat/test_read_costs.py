"""What the hot read paths cost the database: a fixed number of queries however long the chat."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.consumers import _resume
from chat.models import Conversation, Message, PageVisit, hash_token
from chat.selectors import conversation_by_token
from chat.services import VisitorInfo

pytestmark = pytest.mark.django_db

TOKEN = "panel-token-of-forty-characters-or-so-x"


def test_a_panel_resumes_in_the_same_queries_for_a_short_and_a_long_chat(alice):
    """What a returning visitor's panel costs the database does not grow with the chat: the
    resume reads the chat, records the connection and the page, and reads one page of messages."""
    conversation = Conversation.objects.create(
        token_hash=hash_token(TOKEN),
        status=Conversation.Status.ACTIVE,
        assigned_agent=alice,
    )
    Message.objects.create(conversation=conversation, sender="visitor", text="Hello")
    info = VisitorInfo(ip_address="203.0.113.7", user_agent="Firefox", language="fi", screen="")
    page = {"url": "https://example.org/page", "title": "Page"}

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            found = conversation_by_token(TOKEN)
            assert found is not None
            _resume(found, info, page, None, {"type": "welcome"})
        return len(queries)

    def grow(messages: int) -> None:
        Message.objects.bulk_create(
            Message(conversation=conversation, sender=sender, agent=agent, text=f"{sender} {i}")
            for i in range(messages // 2)
            for sender, agent in (("visitor", None), ("agent", alice))
        )
        PageVisit.objects.bulk_create(
            PageVisit(conversation=conversation, url=f"https://example.org/{i}")
            for i in range(messages // 10)
        )
        # The visitor is back on the page they resume from, as on every reload.
        PageVisit.objects.create(conversation=conversation, url=page["url"], title=page["title"])

    cost()  # the first resume records the page; later ones find it already there
    short = cost()
    grow(600)
    long = cost()
    grow(3000)
    # Messages are read in growing chunks until the frame is full (then the client asks for
    # the next page): a few more queries than for one message, and no more however long.
    assert cost() == long
    assert long <= short + 5
