"""Queries compiled once and run again with new values give what the ORM gives."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db.models import Q
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from chat.models import Conversation, Message, hash_token
from chat.selectors import messages_after
from realtime.prepared import Prepared

pytestmark = pytest.mark.django_db


def _chat(token: str, **fields) -> Conversation:
    return Conversation.objects.create(token_hash=hash_token(token), **fields)


def test_rows_are_the_orms_for_every_call_with_its_own_values(alice):
    first = _chat("first-token", status=Conversation.Status.ACTIVE, assigned_agent=alice)
    second = _chat("second-token")

    def build(digest: str):
        return (
            Conversation.objects.select_related("assigned_agent")
            .filter(Q(token_hash=digest) | Q(answer_session_hash=digest))
            .order_by()[:1]
        )

    query = Prepared(build, str)
    for chat in (first, second, first):
        got = query.first(chat.token_hash)
        expected = next(iter(build(chat.token_hash)))
        assert got.pk == expected.pk
        assert got.created_at == expected.created_at
        assert got.status == expected.status
        # The joined row comes with it, as select_related's does: no query of its own.
        assert got.assigned_agent == expected.assigned_agent
    assert query.first("no-such-hash") is None


def test_the_query_is_compiled_once_then_only_run(alice):
    chat = _chat("compiled-once")
    query = Prepared(lambda pk: Conversation.objects.filter(pk=pk).values("pk", "status"), int)
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compile_:
        for _ in range(3):
            assert query.fetch(chat.pk) == [{"pk": chat.pk, "status": chat.status}]
    assert compile_.call_count == 1


def test_values_and_flat_values_come_back_as_the_orm_gives_them():
    chats = [_chat(f"values-{i}") for i in range(3)]
    flat = Prepared(
        lambda low: (
            Conversation.objects.filter(pk__gte=low).order_by("id").values_list("pk", flat=True)
        ),
        int,
    )
    assert flat.fetch(chats[1].pk) == [chats[1].pk, chats[2].pk]
    assert flat.fetch(chats[0].pk) == [c.pk for c in chats]


def test_sql_gives_the_statement_and_its_parameters_for_another_connection():
    query = Prepared(
        lambda pk, digest: Conversation.objects.filter(pk=pk, token_hash=digest), int, str
    )
    sql, params = query.sql(42, "abc")
    assert 42 in params and "abc" in params
    assert "%s" in sql


def test_a_value_the_lookup_rewrites_is_refused_when_compiled():
    query = Prepared(lambda text: Message.objects.filter(text__contains=text), str)
    with pytest.raises(ValueError, match="does not reach its SQL"):
        query.fetch("hello")


def test_only_int_str_and_time_values():
    with pytest.raises(TypeError):
        Prepared(lambda when: Message.objects.filter(created_at=when), float)


def test_messages_after_resends_the_overlap_and_every_higher_id(alice):
    """A resume sends the messages of the last few seconds before the last one seen, and every
    message with a higher id, whenever it was stamped (ids are handed out before commit)."""
    chat = _chat("overlap", status=Conversation.Status.ACTIVE, assigned_agent=alice)
    other = _chat("other-chat")
    now = timezone.now()

    def message(text: str, at, sender="visitor", conversation=chat) -> Message:
        return Message.objects.create(
            conversation=conversation, sender=sender, text=text, created_at=at
        )

    old = message("long ago", now - timedelta(minutes=5))
    near = message("just before", now - timedelta(seconds=2))
    seen = message("seen", now)
    late = message("stamped early, committed late", now - timedelta(minutes=1))
    message("note", now, sender="note")
    message("elsewhere", now, conversation=other)
    after = message("new", now + timedelta(seconds=1))

    got = list(messages_after(conversation_ids=[chat.pk], after_id=seen.pk))
    assert [m.pk for m in got] == [near.pk, seen.pk, late.pk, after.pk]
    # A last seen id that is gone (erased): every message after it.
    gone = near.pk
    near.delete()
    got = list(messages_after(conversation_ids=[chat.pk], after_id=gone))
    assert [m.pk for m in got] == [seen.pk, late.pk, after.pk]
    assert old.pk < gone
    assert [m.text for m in messages_after(conversation_ids=[chat.pk], after_id=None)] == [
        "long ago",
        "seen",
        "stamped early, committed late",
        "new",
    ]
    staff = list(
        messages_after(conversation_ids=[chat.pk, other.pk], after_id=None, include_notes=True)
    )
    assert {m.text for m in staff} >= {"note", "elsewhere"}
    assert list(messages_after(conversation_ids=[], after_id=None)) == []


def test_messages_after_reads_in_growing_chunks_up_to_a_cursor(alice):
    chat = _chat("chunks", status=Conversation.Status.ACTIVE, assigned_agent=alice)
    Message.objects.bulk_create(
        Message(conversation=chat, sender="visitor", text=f"m{i}") for i in range(40)
    )
    ids = list(chat.messages.order_by("id").values_list("id", flat=True))
    assert [m.pk for m in messages_after(conversation_ids=[chat.pk], after_id=None)] == ids
    tail = messages_after(conversation_ids=[chat.pk], after_id=None, cursor=ids[9])
    assert [m.pk for m in tail] == ids[10:]


def test_a_time_value_is_put_where_the_backend_expects_it():
    now = timezone.now()
    older = _chat("older")
    Conversation.objects.filter(pk=older.pk).update(created_at=now - timedelta(hours=2))
    newer = _chat("newer")
    since = Prepared(
        lambda when: (
            Conversation.objects.filter(created_at__gte=when)
            .order_by("id")
            .values_list("pk", flat=True)
        ),
        datetime,
    )
    assert since.fetch(now - timedelta(hours=1)) == [newer.pk]
    assert since.fetch(now - timedelta(hours=3)) == [older.pk, newer.pk]


@pytest.mark.django_db(transaction=True)
def test_column_converters_are_looked_up_once_per_connection_and_still_applied():
    """The ORM would look up every column's converters on each run; a compiled query keeps
    them for its columns, one set per connection (thread), and the rows still come converted
    (here the JSON of a host context)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from chat.models import HostContext

    chat = _chat("converted-context")
    HostContext.objects.create(conversation=chat, data={"plan": "gold", "seats": 3})
    query = Prepared(lambda pk: HostContext.objects.filter(conversation_id=pk), int)

    def rows() -> list[dict]:
        try:
            return [row.data for row in query.fetch(chat.pk)]
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()

    with mock.patch.object(
        SQLCompiler, "get_converters", autospec=True, side_effect=SQLCompiler.get_converters
    ) as look:
        for _ in range(3):
            assert rows() == [{"plan": "gold", "seats": 3}]
        assert look.call_count == 1
        with ThreadPoolExecutor(1) as pool:
            for _ in range(2):
                assert pool.submit(rows).result() == [{"plan": "gold", "seats": 3}]
        assert look.call_count == 2
