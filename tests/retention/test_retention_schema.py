"""The foreign keys to a conversation, as the retention purge measured them (PostgreSQL only)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from chat.models import Conversation, Message, hash_token, new_visitor_token

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL constraints"),
]

CHAT_CHILDREN = {
    "chat_message",
    "chat_pagevisit",
    "chat_visitorconnection",
    "chat_hostcontext",
    "chat_participation",
    "chat_conversation_tags",
    "feedback_feedback",
}


def _conversation_with_a_message() -> Conversation:
    conv = Conversation.objects.create(token_hash=hash_token(new_visitor_token()))
    Message.objects.create(conversation=conv, sender="visitor", text="hello")
    return conv


def test_the_chat_tables_check_a_deleted_conversation_with_one_query():
    # A later AlterField of one of these keys would silently bring back NO ACTION (two queries
    # per deleted conversation and table): see migration 0002.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confdeltype, condeferrable, condeferred "
            "FROM pg_constraint WHERE contype = 'f' AND confrelid = 'chat_conversation'::regclass"
        )
        keys = {table: rest for table, *rest in cursor.fetchall()}
    assert set(keys) >= CHAT_CHILDREN
    for table in CHAT_CHILDREN:
        # RESTRICT on delete; inserts are still checked at commit.
        assert keys[table] == ["r", True, True], table


def test_a_conversation_cannot_go_before_its_messages_but_the_orm_deletes_them_first():
    conv = _conversation_with_a_message()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM chat_conversation WHERE id = %s", [conv.pk])
    assert Message.objects.filter(conversation=conv).exists()

    Conversation.objects.filter(pk=conv.pk).delete()
    assert not Message.objects.filter(conversation_id=conv.pk).exists()
