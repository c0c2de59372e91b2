"""Internal notes, tags and wrap-up reasons are part of the register: in the exports (notes in
the JSON only), gone after an erasure and after the purge; the wrap-up's rules."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, Tag, WrapUpReason, hash_token, new_visitor_token
from chat.services import ChatError, conversation_wrap_up
from dsr import data_requests as dsr
from retention import purge as retention
from tests.dsr.test_data_requests import full_conversation

pytestmark = pytest.mark.django_db

NOTE = "Asked twice about the invoice; see the course office"


@pytest.fixture
def lists():
    return {
        "answered": WrapUpReason.objects.create(
            name_fi="Vastattu", name_sv="Besvarad", name_en="Answered"
        ),
        "retired": WrapUpReason.objects.create(
            name_fi="Vanha", name_sv="Gammal", name_en="Old", active=False
        ),
        "fees": Tag.objects.create(name_fi="Maksut", name_sv="Avgifter", name_en="Fees"),
        "courses": Tag.objects.create(name_fi="Kurssit", name_sv="Kurser", name_en="Courses"),
        "old_tag": Tag.objects.create(name_fi="X", name_sv="X", name_en="X", active=False),
    }


def wrapped_up(agent, lists, **kwargs) -> Conversation:
    """A chat in Finnish with a row of every kind, an internal note and a wrap-up."""
    conv = full_conversation(agent=agent, **kwargs)
    Message.objects.create(
        conversation=conv,
        sender=Message.Sender.NOTE,
        agent=agent,
        author_name="Alice Agent",
        text=NOTE,
        created_at=conv.created_at + timedelta(minutes=3),
    )
    conversation_wrap_up(
        conversation=conv,
        agent=agent,
        reason_id=lists["answered"].pk,
        tag_ids=[lists["fees"].pk, lists["courses"].pk],
    )
    return conv


def test_the_json_export_holds_the_notes_apart_and_the_wrap_up_in_the_chats_language(alice, lists):
    conv = wrapped_up(alice, lists)
    data = dsr.conversation_export(conversation=conv)
    assert [n["text"] for n in data["internal_notes"]] == [NOTE]
    assert data["internal_notes"][0]["author_name"] == "Alice Agent"
    assert "note" not in {m["sender"] for m in data["messages"]}
    assert data["wrap_up"] == {"reason": "Vastattu", "tags": ["Kurssit", "Maksut"]}
    assert NOTE in dsr.export_as_json(data)


def test_the_readable_text_tells_the_wrap_up_and_counts_the_notes_without_their_text(alice, lists):
    conv = wrapped_up(alice, lists)
    text = dsr.export_as_text(dsr.conversation_export(conversation=conv))
    assert NOTE not in text and "invoice" not in text
    assert "Vastattu" in text and "Maksut" in text
    # In Finnish, like the rest of the chat's export.
    assert "SISÄISET MUISTIINPANOT" in text


def test_the_visitors_own_download_has_the_notes_in_the_json_only(alice, lists):
    conv = wrapped_up(alice, lists)
    token = new_visitor_token()
    Conversation.objects.filter(pk=conv.pk).update(token_hash=hash_token(token))
    export = dsr.visitor_self_export(token=token)
    assert NOTE in json.loads(export.json.content)["internal_notes"][0]["text"]
    assert NOTE not in export.text.content
    assert "Maksut" in export.text.content


def test_an_erasure_takes_the_notes_and_the_tags_and_leaves_the_lists(alice, dana, lists):
    conv = wrapped_up(alice, lists)
    other = wrapped_up(alice, lists, started=timezone.now() - timedelta(days=1))
    deleted = dsr.visitor_data_erase(conversation=conv, request_id="DSR-1", actor=dana)
    assert not Message.objects.filter(conversation_id=conv.pk).exists()
    assert not Conversation.tags.through.objects.filter(conversation_id=conv.pk).exists()
    assert deleted["chat.message"] == 3 and deleted["chat.conversation_tags"] == 2
    # Another chat's note and tags, and the director's lists, stay.
    assert Message.objects.filter(conversation=other, sender="note").count() == 1
    assert set(other.tags.values_list("name_en", flat=True)) == {"Fees", "Courses"}
    assert Tag.objects.count() == 3 and WrapUpReason.objects.count() == 2


def test_the_purge_takes_expired_notes_and_tags_with_their_chat(alice, lists):
    old = wrapped_up(alice, lists, started=timezone.now() - timedelta(days=200))
    fresh = wrapped_up(alice, lists)
    outcome = retention.purge_expired(batch_size=1)
    assert outcome.status == "done"
    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert not Message.objects.filter(conversation_id=old.pk).exists()
    assert not Conversation.tags.through.objects.filter(conversation_id=old.pk).exists()
    assert Message.objects.filter(conversation=fresh, sender="note").count() == 1
    assert fresh.tags.count() == 2
    assert Tag.objects.count() == 3 and WrapUpReason.objects.count() == 2


def test_a_second_wrap_up_replaces_the_first(alice, lists):
    conv = wrapped_up(alice, lists)
    conversation_wrap_up(conversation=conv, agent=alice, reason_id=None, tag_ids=[])
    conv.refresh_from_db()
    assert conv.wrap_up_reason is None and conv.tags.count() == 0


@pytest.mark.parametrize(
    ("reason", "tags", "code"),
    [
        ("retired", [], "bad_wrap_up"),
        ("answered", ["old_tag"], "bad_wrap_up"),
        ("answered", [10**6], "bad_wrap_up"),
        (10**6, [], "bad_wrap_up"),
        ("answered", "fees", "bad_frame"),
        ("answered", [True], "bad_frame"),
        ("answered", list(range(21)), "bad_frame"),
        ("not an id", [], "bad_frame"),
    ],
)
def test_a_wrap_up_outside_the_directors_lists_is_refused_and_stores_nothing(
    alice, lists, reason, tags, code
):
    conv = full_conversation(agent=alice)
    reason_id = lists[reason].pk if reason in lists else reason
    tag_ids = [lists[t].pk if t in lists else t for t in tags] if isinstance(tags, list) else tags
    with pytest.raises(ChatError) as refused:
        conversation_wrap_up(conversation=conv, agent=alice, reason_id=reason_id, tag_ids=tag_ids)
    assert refused.value.code == code
    conv.refresh_from_db()
    assert conv.wrap_up_reason is None and conv.tags.count() == 0


def test_only_the_agent_of_the_chat_wraps_it_up(alice, bob, lists):
    conv = full_conversation(agent=alice)
    with pytest.raises(ChatError) as refused:
        conversation_wrap_up(
            conversation=conv, agent=bob, reason_id=lists["answered"].pk, tag_ids=[]
        )
    assert refused.value.code == "not_found"


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fi", "sisäiset muistiinpanot"),
        ("sv", "interna anteckningar"),
        ("en", "internal notes"),
    ],
)
def test_the_privacy_notice_names_the_notes_and_the_wrap_up(client, lang, words):
    page = client.get(f"/privacy/?lang={lang}").content.decode()
    assert words in page


def test_the_director_keeps_the_lists_in_admin_and_cannot_delete_an_item_in_use(
    client, dana, alice, lists
):
    client.force_login(dana)
    added = client.post(
        "/admin/chat/tag/add/",
        {
            "name_fi": "Palaute",
            "name_sv": "Respons",
            "name_en": "Feedback",
            "active": "on",
            "position": 0,
        },
    )
    assert added.status_code == 302
    assert Tag.objects.filter(name_sv="Respons", active=True).exists()
    wrapped_up(alice, lists)
    assert client.get(f"/admin/chat/tag/{lists['fees'].pk}/delete/").status_code == 403
    assert client.get(f"/admin/chat/wrapupreason/{lists['answered'].pk}/delete/").status_code == 403
    gone = client.post(f"/admin/chat/tag/{lists['old_tag'].pk}/delete/", {"post": "yes"})
    assert gone.status_code == 302 and not Tag.objects.filter(pk=lists["old_tag"].pk).exists()
    assert lists["fees"].conversations.count() == 1


def test_an_agent_cannot_change_the_lists(client, alice):
    client.force_login(alice)
    assert client.get("/admin/chat/tag/add/").status_code in (302, 403)


def test_the_history_transcript_marks_the_notes_and_shows_the_wrap_up(client, alice, lists):
    from agents.services import guidance_acknowledge, profile_get

    conv = wrapped_up(alice, lists)
    guidance_acknowledge(user=alice, actor_ip=None)
    profile = profile_get(user=alice)
    profile.language = "sv"
    profile.save(update_fields=["language"])
    client.force_login(alice)
    page = client.get(f"/console/history/{conv.reference}/").content.decode()
    assert '<li class="msg note">' in page
    assert "Intern anteckning, visades inte för besökaren" in page and NOTE in page
    assert "Besvarad" in page and "Avgifter" in page and "Kurser" in page


def test_the_history_lists_each_chats_wrap_up(client, alice, lists):
    from agents.services import guidance_acknowledge

    wrapped_up(alice, lists)
    guidance_acknowledge(user=alice, actor_ip=None)
    client.force_login(alice)
    page = client.get("/console/history/").content.decode()
    # The agent's language is Finnish by default.
    assert "Vastattu · Kurssit, Maksut" in page
