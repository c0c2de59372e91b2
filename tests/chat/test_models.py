from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from chat.models import Conversation, HostContext, Message, hash_token, new_reference

pytestmark = pytest.mark.django_db


def _conversation() -> Conversation:
    return Conversation.objects.create(token_hash=hash_token(new_reference()))


def test_a_client_message_id_is_unique_within_a_conversation():
    conv = _conversation()
    Message.objects.create(conversation=conv, sender="visitor", text="a", client_msg_id="m1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conv, sender="visitor", text="b", client_msg_id="m1")


def test_the_same_client_message_id_may_appear_in_another_conversation():
    one, two = _conversation(), _conversation()
    Message.objects.create(conversation=one, sender="visitor", text="a", client_msg_id="m1")
    Message.objects.create(conversation=two, sender="visitor", text="a", client_msg_id="m1")
    assert Message.objects.filter(client_msg_id="m1").count() == 2


def test_messages_without_a_client_id_do_not_collide():
    conv = _conversation()
    Message.objects.create(conversation=conv, sender="system", text="a")
    Message.objects.create(conversation=conv, sender="system", text="b")
    assert conv.messages.count() == 2


def test_the_database_refuses_text_over_4000_characters():
    conv = _conversation()
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conv, sender="visitor", text="x" * 4001)


def test_the_database_bounds_host_context_size():
    conv = _conversation()
    HostContext.objects.create(conversation=conv, data={"k": "x" * 3000})
    with pytest.raises(IntegrityError), transaction.atomic():
        HostContext.objects.create(conversation=conv, data={"k": "x" * 5000})


def test_references_are_short_and_unambiguous():
    refs = {new_reference() for _ in range(200)}
    assert len(refs) == 200
    for ref in refs:
        assert len(ref) == 11 and ref[5] == "-"
        assert not set(ref) & set("ILOU")
