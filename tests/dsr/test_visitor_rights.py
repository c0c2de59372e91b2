"""The visitor's own copy and erasure, from the widget: POSTs with the token in the body."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps

from chat import services
from chat.models import AuditEvent, Conversation, Message

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"
VISITOR_IP = "198.51.100.40"
EXPORT = "/widget/conversation/export/"
ERASE = "/widget/conversation/erase/"


def start(*, lang: str = "fi", text: str = "Hei, kysyisin kurssimaksusta", ip=VISITOR_IP):
    info = services.visitor_info(
        ip_address=ip,
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        language=lang,
        screen="1280x800",
    )
    page = {"url": "https://www.example.org/kurssit/", "title": "Kurssit", "referrer": ""}
    conversation, token, _ = services.conversation_start(
        info=info, page=page, context={"customer": "42"}, text=text, client_msg_id="c1"
    )
    return conversation, token


def post(client, url: str, body, *, origin: str | None = ORIGIN, content_type="application/json"):
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    data = json.dumps(body) if content_type == "application/json" else body
    return client.post(url, data, content_type=content_type, REMOTE_ADDR=VISITOR_IP, **extra)


def rows_of(conversation_id: int) -> int:
    """Rows of every model that still point at the conversation (this app's and others')."""
    total = Conversation.objects.filter(pk=conversation_id).count()
    for rel in Conversation._meta.related_objects:
        total += rel.related_model.objects.filter(**{rel.field.name: conversation_id}).count()
    return total


@pytest.mark.parametrize(
    ("lang", "heading", "ip_label"),
    [("fi", "VIESTIT", "IP-osoite"), ("sv", "MEDDELANDEN", "IP-adress"), ("en", "MESSAGES", "IP")],
)
def test_the_visitor_downloads_their_chat_as_text_and_json_in_its_language(
    client, settings, lang, heading, ip_label
):
    settings.CHAT_CONTEXT_KEYS = ["customer"]  # only listed keys are stored
    conversation, token = start(lang=lang)
    response = post(client, EXPORT, {"token": token})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    files = {f["format"]: f for f in response.json()["files"]}
    text = files["text"]["content"]
    assert files["text"]["filename"] == f"chat-{conversation.reference}.txt"
    assert heading in text and f"{ip_label}" in text and VISITOR_IP in text
    assert "Hei, kysyisin kurssimaksusta" in text
    data = json.loads(files["json"]["content"])
    assert data["language"] == lang
    assert data["connections"][0]["ip_address"] == VISITOR_IP
    assert data["connections"][0]["browser"] == "Firefox"
    assert data["pages"][0]["url"] == "https://www.example.org/kurssit/"
    assert data["host_context"][0]["data"] == {"customer": "42"}
    assert "transcript_opened_by_staff_at" in data
    # The token's hash is a credential: never handed out.
    assert conversation.token_hash not in response.content.decode()


def test_a_download_is_audited_with_counts_only(client):
    conversation, token = start()
    post(client, EXPORT, {"token": token})
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.object_ref == conversation.reference
    assert event.actor is None and event.actor_name == "visitor" and event.actor_ip is None
    assert event.detail["by"] == "visitor"
    assert event.detail["rows"]["messages"] == 1 and event.detail["rows"]["connections"] == 1
    assert VISITOR_IP not in json.dumps(event.detail) and "kurssi" not in json.dumps(event.detail)


def test_a_wrong_token_reveals_nothing_and_reaches_no_other_chat(client):
    conversation, token = start()
    other, _ = start(text="Toisen kävijän viesti")
    for wrong in ["x" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), "", 42]:
        for url in (EXPORT, ERASE):
            response = post(client, url, {"token": wrong})
            assert response.status_code in (400, 404)
            assert "Toisen" not in response.content.decode()
    assert rows_of(conversation.pk) > 1 and rows_of(other.pk) > 1
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ERASURE).exists()


def test_the_visitor_erases_their_chat_and_a_replayed_token_gets_404(client):
    conversation, token = start()
    other, _ = start(text="Toisen kävijän viesti")
    response = post(client, ERASE, {"token": token})
    assert response.status_code == 200 and response.json() == {"erased": True}
    assert rows_of(conversation.pk) == 0
    assert rows_of(other.pk) > 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.ERASURE)
    assert event.object_ref == conversation.reference
    assert event.actor_name == "visitor" and event.actor_ip is None
    assert event.detail["by"] == "visitor" and event.detail["request_id"] == "widget"
    assert event.detail["deleted"]["chat.message"] == 1
    assert VISITOR_IP not in json.dumps(event.detail)
    # Replayed: the same answer as a token that never existed.
    for url in (ERASE, EXPORT):
        again = post(client, url, {"token": token})
        assert again.status_code == 404 and again.json() == {"error": "not_found"}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ERASURE).count() == 1


# The message goes through the product's path, a database thread of its own: committed data.
@pytest.mark.django_db(transaction=True)
def test_an_active_chat_is_erased_too(client, alice):
    conversation, token = start()
    services.conversation_claim(conversation_id=conversation.pk, agent=alice)
    async_to_sync(services.message_send)(
        conversation_id=conversation.pk,
        sender="agent",
        agent=alice,
        text="Hei!",
        client_msg_id="a1",
        batched=False,
    )
    assert post(client, ERASE, {"token": token}).status_code == 200
    assert rows_of(conversation.pk) == 0
    assert not Message.objects.exists()


def test_only_the_chats_own_origin_may_ask_and_only_with_json(client):
    _, token = start()
    assert post(client, EXPORT, {"token": token}, origin=None).status_code == 403
    assert post(client, EXPORT, {"token": token}, origin="https://evil.example").status_code == 403
    form = post(
        client,
        ERASE,
        f"token={token}",
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 415
    assert client.get(EXPORT, HTTP_ORIGIN=ORIGIN).status_code == 405
    assert post(client, EXPORT, "not json", content_type="application/json").status_code == 400
    assert Conversation.objects.count() == 1


def test_the_setting_turns_the_buttons_and_the_endpoints_off(client, settings):
    _, token = start()
    settings.CHAT_VISITOR_SELF_SERVICE = False
    assert post(client, EXPORT, {"token": token}).status_code == 404
    assert post(client, ERASE, {"token": token}).status_code == 404
    assert Conversation.objects.count() == 1
    panel = client.get("/widget/panel/?lang=en").content.decode()
    assert 'id="hc-download"' not in panel and 'id="hc-delete"' not in panel
    settings.CHAT_VISITOR_SELF_SERVICE = True
    panel = client.get("/widget/panel/?lang=fi").content.decode()
    assert ">Lataa keskustelu</button>" in panel and ">Poista keskustelu</button>" in panel


def test_downloads_and_deletions_are_rate_limited_per_address(client, settings):
    settings.CHAT_SELF_SERVICE_PER_HOUR_PER_IP = 3
    _, token = start()
    codes = [post(client, EXPORT, {"token": token}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert post(client, ERASE, {"token": token}).status_code == 429
    assert Conversation.objects.count() == 1


def test_every_table_that_hangs_off_a_conversation_is_covered():
    """A new table with a foreign key to Conversation is exported and erased by the same code."""
    related = {rel.related_model for rel in Conversation._meta.related_objects}
    assert apps.get_model("feedback", "Feedback") in related
    assert Message in related


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("fi", "Lataa tai poista keskustelusi itse"),
        ("sv", "Ladda ned eller radera ditt samtal själv"),
        ("en", "Download or delete your conversation yourself"),
    ],
)
def test_the_privacy_notice_follows_the_setting(client, settings, lang, heading):
    page = client.get(f"/privacy/?lang={lang}").content.decode()
    assert heading in page and 'id="self-service"' in page
    # Without the token: the request with the reference is still explained.
    assert 'id="requests"' in page and "ABCDE-12345" in page
    settings.CHAT_VISITOR_SELF_SERVICE = False
    page = client.get(f"/privacy/?lang={lang}").content.decode()
    assert heading not in page and 'id="requests"' in page
