"""No frame the consumers build exceeds the budget, and following the cursors returns every item
exactly once, whatever the counts and sizes of messages, queue items and visitor panels."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agents.consumers import _console_state, _detail, _list_page, _own_chat_ids
from chat.consumers import messages_frame
from chat.models import (
    Conversation,
    HostContext,
    Message,
    PageVisit,
    VisitorConnection,
    hash_token,
    new_visitor_token,
)
from realtime import frames

# Characters of every UTF-8 width, and the ones JSON escapes.
CHARS = ["a", "ä", "€", "\U0001f600", '"', "\\"]
EMOJI = "\U0001f600"

texts = st.builds(
    lambda char, count: (char * count) or "a",
    st.sampled_from(CHARS),
    st.integers(min_value=0, max_value=settings.CHAT_MAX_MESSAGE_CHARS),
)


def _size(frame: dict) -> int:
    return len(frames.encode(frame).encode("utf-8"))


@given(st.lists(texts, max_size=120))
@hypothesis_settings(max_examples=60, deadline=None)
def test_following_the_cursor_returns_every_item_once_in_frames_under_the_budget(texts):
    items = [{"id": i + 1, "text": text} for i, text in enumerate(texts)]

    def page(cursor):
        frame = frames.Frame({"type": "sync"}, lists=["messages"])
        later = (item for item in items if cursor is None or item["id"] > cursor)
        frame.put(
            "messages",
            frame.fill("messages", later, cursor=cursor, resume=lambda c: {"cursor": c}),
        )
        return frame.build()

    got, cursor = [], None
    while True:
        frame = page(cursor)
        assert _size(frame) <= frames.budget()
        got += frame["messages"]
        if not frame["more"]:
            break
        assert frame["messages"], "every page holds at least one item"
        cursor = frame["next"]["messages"]["cursor"]
    assert got == items


# --- the consumers' own frames, on the database ------------------------------------------------


def _conversation(status=Conversation.Status.ACTIVE, agent=None) -> Conversation:
    return Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()), status=status, assigned_agent=agent
    )


def _largest_visitor(conversation: Conversation, pages: int) -> None:
    """Every field of the visitor panel at its limit, in 4-byte characters."""
    VisitorConnection.objects.create(
        conversation=conversation,
        ip_address="2001:db8::1",
        browser=EMOJI * 64,
        os=EMOJI * 64,
        device_type=EMOJI * 16,
        language=EMOJI * 35,
        screen=EMOJI * 16,
    )
    # The largest context the service and the database accept: 4096 characters serialised.
    HostContext.objects.create(
        conversation=conversation, data={"k": EMOJI * (settings.CHAT_MAX_CONTEXT_BYTES - 9)}
    )
    long_url = "https://" + EMOJI * 2040
    PageVisit.objects.bulk_create(
        PageVisit(conversation=conversation, url=long_url, title=EMOJI * 300, referrer=long_url)
        for _ in range(pages)
    )


def _follow(first: dict, fetch) -> list[dict]:
    """Every frame of an answer: `first`, then what each frame in `next` brings."""
    answers, pending = [], [first]
    while pending:
        frame = pending.pop()
        assert _size(frame) <= frames.budget(), frame["type"]
        answers.append(frame)
        pending += [fetch(request) for request in (frame.get("next") or {}).values()]
    return answers


def _ids(answers: list[dict], field: str) -> list[int]:
    return [item["id"] for frame in answers for item in frame.get(field) or []]


@pytest.mark.django_db
@given(
    messages=st.lists(texts, max_size=25),
    waiting=st.lists(texts, max_size=12),
    chats=st.integers(min_value=0, max_value=3),
    pages=st.sampled_from([0, 1, 3, 40]),
)
@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_frame_of_the_console_or_the_widget_exceeds_the_budget(
    alice, messages, waiting, chats, pages
):
    with transaction.atomic():
        mine = [_conversation(agent=alice) for _ in range(chats)]
        for conversation in mine:
            _largest_visitor(conversation, pages)
        history = (
            Message.objects.bulk_create(
                Message(conversation=mine[0], sender="visitor", text=text) for text in messages
            )
            if mine
            else []
        )
        queued = []
        for text in waiting:
            conversation = _conversation(status=Conversation.Status.WAITING)
            _largest_visitor(conversation, 1)
            Message.objects.create(conversation=conversation, sender="visitor", text=text)
            queued.append(conversation.pk)

        def agent_fetch(request):
            if request["type"] == "list.page":
                return _list_page(alice, request["list"], request["after_id"])
            return messages_frame(
                {"type": "sync"},
                [c.pk for c in mine],
                request["last_seen_id"],
                request["cursor"],
            )

        welcome = _console_state(alice, None, _own_chat_ids(alice))
        answers = _follow(welcome, agent_fetch)
        assert _ids(answers, "messages") == [m.pk for m in history]
        assert sorted(_ids(answers, "queue")) == queued
        assert sorted(_ids(answers, "chats")) == [c.pk for c in mine]
        details = [d for frame in answers for d in (frame.get("details") or {}).values()]
        assert all(d["pages_total"] == pages for d in details)
        assert all(d["current_page"] or not pages for d in details)

        for conversation in mine:
            claim = _detail(alice, conversation.pk, "conversation.claim.ok")
            answers = _follow(
                claim,
                lambda r, c=conversation: messages_frame(
                    {"type": "sync"}, [c.pk], r["last_seen_id"], r["cursor"]
                ),
            )
            expected = [m.pk for m in history] if conversation is mine[0] else []
            assert _ids(answers, "messages") == expected

        if mine:
            welcome = messages_frame({"type": "welcome"}, [mine[0].pk], None)
            answers = _follow(
                welcome,
                lambda r: messages_frame(
                    {"type": "sync"}, [mine[0].pk], r["last_seen_id"], r["cursor"]
                ),
            )
            assert _ids(answers, "messages") == [m.pk for m in history]
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_the_largest_visitor_panel_leaves_room_for_its_latest_pages(alice):
    conversation = _conversation(agent=alice)
    _largest_visitor(conversation, 300)
    PageVisit.objects.create(conversation=conversation, url="https://example.org/last", title="t")
    claim = _detail(alice, conversation.pk, "conversation.claim.ok")
    assert _size(claim) <= frames.budget()
    panel = claim["detail"]
    assert panel["pages_total"] == 301
    assert panel["current_page"]["url"] == "https://example.org/last"
    assert panel["pages"][-1]["url"] == "https://example.org/last"


@pytest.mark.django_db
def test_a_page_of_the_queue_costs_a_few_queries_however_long_the_queue(alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.paging import waiting_chats

    waiting_chats(600)
    with CaptureQueriesContext(connection) as queries:
        page = _list_page(alice, "queue", None)
    assert page["more"] is True
    assert len(page["queue"]) > 100
    # Chunks of 16, 32, 64, 128: one query each, not two per waiting chat.
    assert len(queries) <= 5
    with CaptureQueriesContext(connection) as queries:
        page = messages_frame({"type": "sync"}, [page["queue"][0]["id"]], None)
    assert len(queries) == 1
