"""The one erasure against what may happen at the same moment: nothing is ever half-deleted.

Two real database connections (threads) on PostgreSQL; the erasure is held open inside its
transaction by the `conversation_erased` hook, which runs after the delete and before commit.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chat import hooks
from chat.models import AuditEvent, Conversation, Message, VisitorConnection, hash_token
from chat.services import ChatError, conversation_claim, message_send
from dsr import data_requests as dsr
from retention.purge import purge_expired

pytestmark = pytest.mark.django_db(transaction=True)


def _rows_of(conversation_id: int) -> int:
    total = Conversation.objects.filter(pk=conversation_id).count()
    for rel in Conversation._meta.related_objects:
        total += rel.related_model.objects.filter(**{rel.field.name: conversation_id}).count()
    return total


def _in_thread(func):
    def run():
        try:
            return func()
        finally:
            connection.close()

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future


class HeldErasure:
    """An erasure that stops inside its transaction until `release()`."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.go = threading.Event()

    def __call__(self, conversation_id: int) -> None:
        self.inside.set()
        assert self.go.wait(30)

    def release(self) -> None:
        self.go.set()


@pytest.fixture
def held():
    hold = HeldErasure()
    hooks.register("conversation_erased", hold)
    yield hold
    hold.release()
    hooks.unregister("conversation_erased", hold)


def _active_chat(alice, *, at=None) -> Conversation:
    at = at or timezone.now()
    conv = Conversation.objects.create(
        token_hash=hash_token(f"t-{at.timestamp()}"), created_at=at, last_activity_at=at
    )
    VisitorConnection.objects.create(conversation=conv, ip_address="203.0.113.5", created_at=at)
    Message.objects.create(conversation=conv, sender="visitor", text="Hei", created_at=at)
    conversation_claim(conversation_id=conv.pk, agent=alice)
    Conversation.objects.filter(pk=conv.pk).update(last_activity_at=at)
    return Conversation.objects.get(pk=conv.pk)


def _erase(conv: Conversation):
    return _in_thread(
        lambda: dsr.visitor_data_erase(conversation=conv, request_id="R-1", actor_name="test")
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks")
def test_an_agent_message_racing_the_erasure_is_refused_and_leaves_nothing(alice, held):
    conv = _active_chat(alice)
    erasing = _erase(conv)
    assert held.inside.wait(30)

    def agent_writes():
        # The product's one way to store a message, on its general (database-thread) path.
        async_to_sync(message_send)(
            conversation_id=conv.pk,
            sender="agent",
            agent=alice,
            text="Vielä yksi asia",
            client_msg_id="late",
            batched=False,
        )

    writing = _in_thread(agent_writes)
    held.release()
    assert erasing.result(30)["chat.message"] == 2
    # Either the message waited for the erasure's lock and then found no conversation to belong
    # to, or it came after the erasure: refused both ways.
    with pytest.raises((IntegrityError, ChatError)):
        writing.result(30)
    assert _rows_of(conv.pk) == 0
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ERASURE).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks")
def test_a_message_committed_first_is_erased_with_the_rest(alice):
    conv = _active_chat(alice)
    stored = threading.Event()
    commit = threading.Event()

    def agent_writes():
        with transaction.atomic():
            Message.objects.create(
                conversation=conv, sender="agent", text="Ensin", agent=alice, author_name="A"
            )
            stored.set()
            assert commit.wait(30)

    writing = _in_thread(agent_writes)
    assert stored.wait(30)
    erasing = _erase(conv)
    commit.set()
    writing.result(30)
    assert erasing.result(30)["chat.message"] == 3
    assert _rows_of(conv.pk) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks")
def test_an_erasure_while_the_retention_purge_runs_leaves_nothing_half_deleted(alice, held):
    old = timezone.now() - timedelta(days=200)
    expiring = _active_chat(alice, at=old)
    other = _active_chat(alice, at=old - timedelta(minutes=1))
    erasing = _erase(expiring)
    assert held.inside.wait(30)
    purging = _in_thread(lambda: purge_expired(batch_size=1))
    held.release()
    deleted = erasing.result(30)
    outcome = purging.result(60)
    assert outcome.status == "done"
    assert deleted["chat.conversation"] == 1
    assert _rows_of(expiring.pk) == 0 and _rows_of(other.pk) == 0
    # Erasing what the purge took meanwhile says so instead of half-deleting anything.
    with pytest.raises(Conversation.DoesNotExist):
        dsr.visitor_data_erase(conversation=other, request_id="R-2", actor_name="test")
    assert dsr.visitor_self_erase(token="t-unknown-token-xxxxxxxxxxxxxxx") is None
