"""What the hot read paths cost the database: a fixed number of queries however long the chat."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.consumers import _resume
from chat.models import Conversation, Message, PageVisit, hash_token
from chat.selectors import returning_visitor
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
            found = returning_visitor(TOKEN)
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


def test_an_agents_own_chats_are_read_in_the_same_queries_for_three_and_for_thirty(alice):
    """A console coming back reads its chats with their visitor panels: three queries per chunk
    of chats for the panels, not three per chat (a storm of consoles reconnecting was half the
    database's work)."""
    from django.utils import timezone

    from agents.consumers import _own_chats
    from agents.selectors import visitor_panel
    from chat.models import HostContext, VisitorConnection

    def chats(n: int) -> None:
        for i in range(n):
            c = Conversation.objects.create(
                token_hash=hash_token(f"{TOKEN}-{n}-{i}"),
                status=Conversation.Status.ACTIVE,
                assigned_agent=alice,
                claimed_at=timezone.now(),  # the panel's wait is then fixed
            )
            for ip in ("203.0.113.1", "203.0.113.2"):
                VisitorConnection.objects.create(conversation=c, ip_address=ip, browser="Firefox")
            HostContext.objects.create(conversation=c, data={"plan": f"p{i}"})
            for page in range(3):
                PageVisit.objects.create(conversation=c, url=f"https://example.org/{i}/{page}")

    def cost() -> tuple[int, list[dict]]:
        with CaptureQueriesContext(connection) as queries:
            read = list(_own_chats(alice, None))
        return len(queries), read

    chats(3)
    few, read = cost()
    assert len(read) == 3
    chats(27)
    many, read = cost()
    assert len(read) == 30
    # Chunks of 4, 8, 16, 32 chats: one more chunk read, not 27 more panels.
    assert many <= few + 3 * 4
    # Each panel is the one built for its chat alone: latest connection and context, its pages.
    for entry in read:
        alone = visitor_panel(Conversation.objects.get(pk=entry["id"]), bounded=True)
        assert entry["detail"] == alone
        assert entry["detail"]["ip_address"] == "203.0.113.2"
        assert len(entry["detail"]["pages"]) == 3


def test_a_token_is_found_through_its_indexes_whatever_the_registers_size():
    """A resume's first read: the token's two hash indexes, not a walk over every chat (with
    `ORDER BY id LIMIT 1` PostgreSQL walked the primary key: 19 ms with 26,000 chats)."""
    from django.db import connection as db

    from chat.selectors import by_token_hash, conversation_by_token

    Conversation.objects.bulk_create(
        Conversation(token_hash=hash_token(f"{TOKEN}-{i}")) for i in range(3000)
    )
    with db.cursor() as cursor:
        cursor.execute("ANALYZE chat_conversation")
    query = by_token_hash(hash_token(f"{TOKEN}-77"))
    # Unordered: an ORDER BY id with LIMIT 1 lets the planner walk the primary key instead
    # whenever it guesses the hash indexes match many rows (stale statistics did, there).
    assert "ORDER BY" not in str(query.query)
    plan = query.explain()
    assert "chat_conversation_pkey" not in plan, plan
    assert "token_hash" in plan and "answer_session" in plan, plan
    assert conversation_by_token(f"{TOKEN}-77").token_hash == hash_token(f"{TOKEN}-77")
    assert conversation_by_token(f"{TOKEN}-none") is None


def test_the_queues_reads_use_their_indexes_however_large_the_register():
    """Each queue announcement reads the waiting chats in order and the chats taken in the last
    hour. Without its own partial index the second scanned every chat of the register: 40 ms at
    300,000 chats, on every announcement (up to four a second per process)."""
    from datetime import timedelta

    from django.db import connection as db
    from django.utils import timezone

    from chat.waiting import WAIT_BASIS_WINDOW, taken_since, wait_basis, waiting_conversations

    now = timezone.now()
    old = [
        Conversation(
            token_hash=hash_token(f"{TOKEN}-old-{i}"),
            status=Conversation.Status.CLOSED,
            created_at=now - timedelta(days=90) + timedelta(minutes=6 * i),
            claimed_at=now - timedelta(days=90) + timedelta(minutes=6 * i, seconds=40),
        )
        for i in range(20000)
    ]
    recent = [
        Conversation(
            token_hash=hash_token(f"{TOKEN}-recent-{i}"),
            status=Conversation.Status.ACTIVE,
            created_at=now - timedelta(minutes=30),
            claimed_at=now - timedelta(minutes=30) + timedelta(seconds=20 * (i + 1)),
        )
        for i in range(3)
    ]
    waiting = [
        Conversation(token_hash=hash_token(f"{TOKEN}-waiting-{i}"), created_at=now)
        for i in range(5)
    ]
    Conversation.objects.bulk_create(old + recent + waiting, batch_size=5000)
    with db.cursor() as cursor:
        cursor.execute("ANALYZE chat_conversation")

    taken_plan = taken_since(now - WAIT_BASIS_WINDOW).explain()
    assert "conversation_claimed" in taken_plan and "Seq Scan" not in taken_plan, taken_plan
    queue_plan = waiting_conversations()[:100].explain()
    assert "Seq Scan" not in queue_plan, queue_plan
    # And what they read is right: the three taken in the last hour (20, 40 and 60 s waits).
    basis = wait_basis(now)
    assert basis.taken_last_hour == 3 and basis.mean_wait_seconds == pytest.approx(40)
    assert list(waiting_conversations().values_list("pk", flat=True)) == [c.pk for c in waiting]
