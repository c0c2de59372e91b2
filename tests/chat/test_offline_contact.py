"""The optional e-mail address for the answer to a message left offline (CHAT_OFFLINE_CONTACT):
taken only while the setting is on, shown to agents, in both exports, gone with erasure and
the purge, on /privacy/ while on; the notice goes through a real SMTP server and never carries
the conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from agents.selectors import visitor_panel
from chat import contact, services
from chat.models import Conversation, Message, hash_token, new_visitor_token
from chat.services import ChatError
from dsr import data_requests as dsr
from retention import purge as retention
from tests.smtp import body_of, free_port, smtp_server, use_smtp

pytestmark = pytest.mark.django_db

SECRET = "My account number is 12345 and my problem is private"
ADDRESS = "visitor@example.org"


@pytest.fixture
def contact_on(settings):
    settings.CHAT_OFFLINE_CONTACT = True
    settings.CHAT_PUBLIC_URL = "https://chat.example.org"
    return settings


@pytest.fixture
def smtp_inbox(contact_on):
    with smtp_server(contact_on) as inbox:
        yield inbox


def answered(email: str = ADDRESS, language: str = "en") -> Conversation:
    """A message left offline with an address, which an agent has answered."""
    now = timezone.now()
    conv = Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        language=language,
        left_offline=True,
        contact_email=email,
        status=Conversation.Status.ACTIVE,
        created_at=now - timedelta(hours=9),
        claimed_at=now - timedelta(minutes=5),
        first_response_at=now - timedelta(minutes=4),
        last_activity_at=now - timedelta(minutes=4),
    )
    Message.objects.create(conversation=conv, sender="visitor", text=SECRET)
    Message.objects.create(conversation=conv, sender="agent", text="Here is your private answer")
    return conv


def _open(contact_value, *, offline=True):
    info = services.visitor_info(ip_address="203.0.113.9", user_agent="", language="en", screen="")
    return async_to_sync(services.conversation_open)(
        info=info,
        ip_address="203.0.113.9",
        page=None,
        context=None,
        text="Left at night",
        client_msg_id="c1",
        offline=offline,
        contact=contact_value,
    )


# --- taken only while on ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the unit runs on its own connection
def test_an_address_is_refused_while_the_setting_is_off(settings, roles):
    settings.CHAT_OFFLINE_CONTACT = False
    with pytest.raises(ChatError) as refused:
        _open(ADDRESS)
    assert refused.value.code == "bad_contact"
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)  # the unit runs on its own connection
@pytest.mark.parametrize("bad", ["not an address", "a@b.c, d@e.f", 42, "x" * 250 + "@example.org"])
def test_a_bad_address_is_refused_and_nothing_stored(contact_on, roles, bad):
    with pytest.raises(ChatError) as refused:
        _open(bad)
    assert refused.value.code == "bad_contact"
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)  # the unit runs on its own connection
def test_the_address_is_stored_with_the_left_message_and_shown_to_agents(contact_on, roles):
    conversation, _, _ = _open(f"  {ADDRESS} ")
    conversation.refresh_from_db()
    assert conversation.left_offline and conversation.contact_email == ADDRESS
    assert visitor_panel(conversation)["contact_email"] == ADDRESS


@pytest.mark.django_db(transaction=True)  # the unit runs on its own connection
def test_an_ordinary_chat_keeps_no_address(contact_on, agent_online):
    conversation, _, _ = _open(ADDRESS)
    conversation.refresh_from_db()
    assert not conversation.left_offline and conversation.contact_email == ""


# --- the register's rules -----------------------------------------------------------------------


def test_both_exports_hold_the_address(contact_on, dana):
    conv = answered()
    data = dsr.conversation_export(conversation=conv)
    assert data["conversation"]["contact_email"] == ADDRESS
    assert f"E-mail for the answer: {ADDRESS}" in dsr.export_as_text(data)
    director = dsr.visitor_data_export(conversation=conv, request_id="DSR-9", actor=dana)
    assert ADDRESS in director.content


def test_erasure_and_the_purge_take_the_address_with_the_chat(contact_on, dana):
    erased, purged = answered(), answered("other@example.org")
    dsr.visitor_data_erase(conversation=erased, request_id="DSR-10", actor=dana)
    with time_machine.travel(timezone.now() + timedelta(days=31 * 4), tick=False):
        retention.purge_expired(batch_size=10)
    assert not Conversation.objects.filter(contact_email__in=[ADDRESS, "other@example.org"])
    assert not Conversation.objects.filter(pk__in=[erased.pk, purged.pk]).exists()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fi", "sähköpostiosoite, jos annoit sen jättäessäsi viestin"),
        ("sv", "e-postadress, om du angav den när du lämnade ett meddelande"),
        ("en", "an e-mail address, if you gave one when leaving a message"),
    ],
)
def test_the_privacy_notice_lists_the_address_exactly_while_the_setting_is_on(
    settings, lang, words
):
    settings.CHAT_OFFLINE_CONTACT = False
    assert words not in Client().get("/privacy/", {"lang": lang}).content.decode()
    settings.CHAT_OFFLINE_CONTACT = True
    assert words in Client().get("/privacy/", {"lang": lang}).content.decode()


# --- the notice ---------------------------------------------------------------------------------


def test_the_notice_arrives_once_with_a_link_and_without_the_conversation(smtp_inbox):
    conv = answered(language="fi")
    unanswered = answered("waiting@example.org")
    Conversation.objects.filter(pk=unanswered.pk).update(first_response_at=None)

    assert contact.contact_notify_due() == 1
    [(recipients, mail)] = smtp_inbox.messages
    assert recipients == [ADDRESS]
    body = body_of(mail)
    assert mail["Subject"] == "Viestiisi on vastattu"
    assert "https://chat.example.org/chat/" in body
    assert conv.reference in body
    assert SECRET not in body and "private answer" not in body
    conv.refresh_from_db()
    assert conv.contact_notified_at is not None
    # Sent once.
    assert contact.contact_notify_due() == 0
    assert len(smtp_inbox.messages) == 1


def test_a_mail_server_that_is_down_leaves_the_notice_due(contact_on):
    use_smtp(contact_on, free_port())  # nobody listens there
    conv = answered()
    assert contact.contact_notify_due() == 0
    conv.refresh_from_db()
    assert conv.contact_notified_at is None
    assert list(contact.contact_due()) == [conv]


def test_the_chat_page_the_link_opens_embeds_the_chat(client):
    html = client.get("/chat/").content.decode()
    assert '<script src="/widget.js"' in html
