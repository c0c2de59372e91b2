"""The optional e-mail address for the answer to a message left offline (CHAT_OFFLINE_CONTACT):
taken only while the setting is on, shown to agents, in both exports, gone with erasure and
the purge, on /privacy/ while on; the notice goes through a real SMTP server and never carries
the conversation."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from agents.selectors import visitor_panel
from chat import contact, selectors, services
from chat.models import Conversation, Message, hash_token, new_visitor_token
from chat.retention_period import months_before
from chat.services import ChatError
from dsr import data_requests as dsr
from retention import purge as retention
from tests.addresses import free_port
from tests.smtp import body_of, smtp_server, use_smtp

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
    assert "https://chat.example.org/chat/answer/?lang=fi#" in body
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
    # No link is kept for a notice that was not sent.
    assert conv.answer_link_hash == "" and conv.answer_link_expires_at is None


def test_the_chat_page_the_link_opens_embeds_the_chat(client):
    html = client.get("/chat/").content.decode()
    assert '<script src="/widget.js"' in html


# --- the notice's one-time link -----------------------------------------------------------------

LINK = re.compile(r"https://chat\.example\.org/chat/answer/\?lang=(\w\w)#([\w-]+)")
OPEN = "/chat/answer/open/"


def _notice_link(inbox) -> tuple[str, str]:
    """(language, token) of the link in the last notice."""
    match = LINK.search(body_of(inbox.messages[-1][1]))
    assert match, body_of(inbox.messages[-1][1])
    return match[1], match[2]


def _open_link(client, body, *, origin="http://testserver", content_type="application/json"):
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    data = json.dumps(body) if content_type == "application/json" else body
    return client.post(OPEN, data, content_type=content_type, REMOTE_ADDR="198.51.100.7", **extra)


def test_the_notice_carries_a_one_time_link_whose_token_is_stored_only_as_a_hash(smtp_inbox):
    conv = answered(language="sv")
    assert contact.contact_notify_due() == 1
    lang, token = _notice_link(smtp_inbox)
    assert lang == "sv"
    conv.refresh_from_db()
    assert conv.answer_link_hash == hash_token(token)
    stored = [getattr(conv, f.attname) for f in Conversation._meta.concrete_fields]
    assert token not in [str(v) for v in stored]
    # Valid for CHAT_ANSWER_LINK_DAYS (7) from now, the chat being far from its purge.
    assert conv.answer_link_expires_at - timezone.now() == pytest.approx(
        timedelta(days=7), abs=timedelta(minutes=1)
    )
    assert "Länken fungerar en gång" in body_of(smtp_inbox.messages[-1][1])


def test_the_link_never_outlives_the_purge_of_its_chat(contact_on):
    conv = answered()
    # Quiet for all but two days of the retention period: the purge comes before 7 days pass.
    Conversation.objects.filter(pk=conv.pk).update(
        last_activity_at=months_before(timezone.now(), 3) + timedelta(days=2)
    )
    conv.refresh_from_db()
    token = contact.answer_link_issue(conv)
    conv.refresh_from_db()
    assert conv.answer_link_expires_at == contact.purge_due_at(conv)
    assert conv.answer_link_expires_at < timezone.now() + timedelta(days=3)
    # The purge takes it with the chat, and with it what the link could open.
    with time_machine.travel(conv.answer_link_expires_at + timedelta(minutes=1), tick=False):
        assert contact.answer_link_redeem(token) is None
        retention.purge_expired(batch_size=10)
    assert not Conversation.objects.filter(pk=conv.pk).exists()


def test_the_link_opens_the_chat_once_and_hands_that_browser_its_own_token(contact_on):
    conv = answered()
    own = new_visitor_token()
    Conversation.objects.filter(pk=conv.pk).update(token_hash=hash_token(own))
    token = contact.answer_link_issue(conv)
    session = contact.answer_link_redeem(token)
    assert session and session != token
    assert selectors.conversation_by_token(session).pk == conv.pk
    # The browser the visitor wrote from keeps its own token.
    assert selectors.conversation_by_token(own).pk == conv.pk
    conv.refresh_from_db()
    assert conv.answer_link_hash == "" and conv.answer_session_hash == hash_token(session)
    # Used once: the link opens nothing more, and the link token is no visitor token.
    assert contact.answer_link_redeem(token) is None
    assert selectors.conversation_by_token(token) is None


def test_an_expired_link_opens_nothing(contact_on):
    token = contact.answer_link_issue(answered())
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1), tick=False):
        assert contact.answer_link_redeem(token) is None
    assert contact.answer_link_redeem(token) is not None  # before then it did


@pytest.mark.parametrize("bad", [None, 42, "", "short", "x" * 101, ["a" * 43], "a" * 43])
def test_a_malformed_or_unknown_link_token_opens_nothing(contact_on, bad):
    contact.answer_link_issue(answered())
    assert contact.answer_link_redeem(bad) is None
    assert not Conversation.objects.exclude(answer_session_hash="").exists()


def test_the_link_endpoint_spends_a_token_once_and_refuses_the_rest(contact_on, client):
    token = contact.answer_link_issue(answered())
    assert _open_link(client, {"token": token}, origin="https://evil.example").status_code == 403
    assert _open_link(client, {"token": token}, origin=None).status_code == 403
    form = _open_link(client, f"token={token}", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    assert _open_link(client, {"token": "x" * 2000}).status_code == 413
    assert (
        client.post(
            OPEN, "{", content_type="application/json", HTTP_ORIGIN="http://testserver"
        ).status_code
        == 400
    )
    assert client.get(OPEN).status_code == 405
    first = _open_link(client, {"token": token})
    assert first.status_code == 200 and first["Cache-Control"].startswith("max-age=0")
    session = first.json()["token"]
    assert selectors.conversation_by_token(session) is not None
    again = _open_link(client, {"token": token})
    assert (again.status_code, again.json()) == (404, {"error": "gone"})


def test_no_link_opens_anything_once_the_setting_is_off(contact_on, client):
    token = contact.answer_link_issue(answered())
    contact_on.CHAT_OFFLINE_CONTACT = False
    assert _open_link(client, {"token": token}).status_code == 404
    contact_on.CHAT_OFFLINE_CONTACT = True
    assert _open_link(client, {"token": token}).status_code == 200


def test_openings_of_links_are_rate_limited_per_address(contact_on, client):
    contact_on.CHAT_SELF_SERVICE_PER_HOUR_PER_IP = 3
    token = contact.answer_link_issue(answered())
    codes = [_open_link(client, {"token": "y" * 43}).status_code for _ in range(3)]
    assert codes == [404, 404, 404]
    # Even the right token is refused once the address has tried too often.
    assert _open_link(client, {"token": token}).status_code == 429
    assert contact.answer_link_redeem(token) is not None


@pytest.mark.parametrize(
    ("lang", "title", "gone", "next_visit"),
    [
        (
            "fi",
            "Vastaus odottaa sinua",
            "Tämä linkki on jo käytetty tai se on vanhentunut.",
            "kun seuraavan kerran käyt sivustolla https://www.example.org",
        ),
        (
            "sv",
            "Ditt svar väntar",
            "Den här länken har redan använts eller har gått ut.",
            "nästa gång du besöker https://www.example.org",
        ),
        (
            "en",
            "Your answer is waiting",
            "This link has already been used or has expired.",
            "on your next visit to https://www.example.org",
        ),
    ],
)
def test_the_link_page_speaks_the_links_language_and_names_the_site(
    contact_on, client, lang, title, gone, next_visit
):
    from chat.models import ControllerDetails

    details = ControllerDetails.current()
    details.website = "https://www.example.org"
    details.save()
    response = client.get("/chat/answer/", {"lang": lang})
    html = response.content.decode()
    assert response.status_code == 200 and response["Content-Language"] == lang
    assert f"<h1>{title}</h1>" in html and gone in html and next_visit in html
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_both_exports_say_until_when_the_link_works_and_whether_it_was_used(contact_on, dana):
    conv = answered()
    token = contact.answer_link_issue(conv)
    data = dsr.conversation_export(conversation=conv)
    until = data["conversation"]["answer_link_valid_until"]
    assert datetime.fromisoformat(until) == conv.answer_link_expires_at
    assert data["conversation"]["answer_link_used"] is False
    session = contact.answer_link_redeem(token)
    conv.refresh_from_db()
    data = dsr.conversation_export(conversation=conv)
    assert data["conversation"]["answer_link_used"] is True
    assert "Link in the answer notice valid until" in dsr.export_as_text(data)
    assert "(link used)" in dsr.export_as_text(data)
    director = dsr.visitor_data_export(conversation=conv, request_id="DSR-11", actor=dana)
    assert '"answer_link_used": true' in director.content
    own = dsr.visitor_self_export(token=session)  # the visitor's own, with the link's token
    assert own is not None and '"answer_link_used": true' in own.json.content
    for secret in (token, session, hash_token(token), hash_token(session)):
        assert secret not in director.content and secret not in own.json.content
        assert secret not in own.text.content


def test_erasure_takes_the_link_and_what_it_handed_out(contact_on, dana):
    unused, used = answered(), answered("other@example.org")
    link = contact.answer_link_issue(unused)
    session = contact.answer_link_redeem(contact.answer_link_issue(used))
    dsr.visitor_data_erase(conversation=unused, request_id="DSR-12", actor=dana)
    assert dsr.visitor_self_erase(token=session) is not None  # erased by the link's browser
    assert contact.answer_link_redeem(link) is None
    assert selectors.conversation_by_token(session) is None
    assert not Conversation.objects.exclude(answer_link_hash="").exists()
    assert not Conversation.objects.exclude(answer_session_hash="").exists()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fi", "viestin kertakäyttöinen linkki keskusteluun"),
        ("sv", "meddelandets engångslänk till samtalet"),
        ("en", "the one-time link to the conversation in that message"),
    ],
)
def test_the_privacy_notice_lists_the_link_exactly_while_the_setting_is_on(settings, lang, words):
    settings.CHAT_OFFLINE_CONTACT = False
    assert words not in Client().get("/privacy/", {"lang": lang}).content.decode()
    settings.CHAT_OFFLINE_CONTACT = True
    html = Client().get("/privacy/", {"lang": lang}).content.decode()
    assert words in html and "7" in html.split(words, 1)[1][:200]
