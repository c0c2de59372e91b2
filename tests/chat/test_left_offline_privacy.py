"""A message left while nobody was online: said on /privacy/, in both exports, gone with an
erasure and with the purge, like the rest of the conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Message, hash_token, new_visitor_token
from dsr import data_requests as dsr
from retention import purge as retention

pytestmark = pytest.mark.django_db

NOTICE = {
    "fi": "jätitkö keskustelun viestinä, kun kukaan ei ollut paikalla",
    "sv": "lämnade samtalet som ett meddelande när ingen var tillgänglig",
    "en": "whether you left it as a message while nobody was online",
}


def left_message(started=None) -> Conversation:
    started = started or timezone.now() - timedelta(hours=10)
    conv = Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        language="en",
        left_offline=True,
        created_at=started,
        last_activity_at=started,
    )
    Message.objects.create(conversation=conv, sender="visitor", text="At night", created_at=started)
    return conv


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_privacy_notice_says_a_chat_may_be_a_message_left(lang):
    page = Client().get("/privacy/", {"lang": lang}).content.decode()
    assert NOTICE[lang] in page


def test_both_exports_say_the_chat_was_left_as_a_message(dana):
    conv = left_message()
    # The visitor's own copy and the director's are the same export.
    data = dsr.conversation_export(conversation=conv)
    assert data["conversation"]["left_as_message"] is True
    assert "Left as a message while nobody was online" in dsr.export_as_text(data)
    director = dsr.visitor_data_export(
        conversation=conv, request_id="DSR-7", actor=dana, fmt="json"
    )
    assert '"left_as_message": true' in director.content
    ordinary = Conversation.objects.create(token_hash=hash_token(new_visitor_token()))
    assert (
        dsr.conversation_export(conversation=ordinary)["conversation"]["left_as_message"] is False
    )


def test_an_erasure_takes_a_message_left_with_it(dana):
    conv = left_message()
    dsr.visitor_data_erase(conversation=conv, request_id="DSR-8", actor=dana)
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert not Message.objects.filter(conversation_id=conv.pk).exists()


def test_the_purge_takes_a_message_left_when_its_time_is_up():
    conv = left_message(started=timezone.now() - timedelta(days=3))
    retention.purge_expired(batch_size=10)
    assert Conversation.objects.filter(pk=conv.pk).exists()
    with time_machine.travel(timezone.now() + timedelta(days=31 * 4), tick=False):
        retention.purge_expired(batch_size=10)
    assert not Conversation.objects.filter(pk=conv.pk).exists()
