"""System events are stored as facts and told in each viewer's language."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import translation

from agents.services import guidance_acknowledge, profile_get
from chat.models import Conversation, Message
from chat.services import conversation_claim, conversation_close, conversation_transfer
from chat.system_events import describe, event_of
from dsr import data_requests as dsr

JOINED = {
    "fi": "Aino Asiakaspalvelija liittyi keskusteluun",
    "sv": "Aino Asiakaspalvelija anslöt till chatten",
    "en": "Aino Asiakaspalvelija joined the chat",
}


def _migrate(target: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _latest() -> list[tuple[str, str]]:
    """Every app's last migration: the schema today's models read."""
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_old_english_joined_lines_become_events_that_read_in_each_language(alice):
    old = _migrate([("chat", "0008_message_event")])
    OldConversation = old.get_model("chat", "Conversation")
    OldMessage = old.get_model("chat", "Message")
    conv = OldConversation.objects.create(token_hash="e" * 64, reference="AAAAA-BBBBB")
    joined = OldMessage.objects.create(
        conversation=conv,
        sender="system",
        author_name="Aino Asiakaspalvelija",
        text="Aino Asiakaspalvelija joined the chat",
    )
    # Not the product's sentence (or another name): left as it is.
    other = OldMessage.objects.create(
        conversation=conv, sender="system", author_name="", text="Someone joined the chat"
    )
    said = OldMessage.objects.create(
        conversation=conv, sender="visitor", text="Bob joined the chat"
    )
    _migrate([("chat", "0009_system_lines_to_events")])
    # On to the latest migrations: the models below (and every later test) use today's schema.
    _migrate(_latest())

    line = Message.objects.get(pk=joined.pk)
    assert (line.event, line.event_data, line.text) == (
        "joined",
        {"name": "Aino Asiakaspalvelija"},
        "",
    )
    assert Message.objects.get(pk=other.pk).text == "Someone joined the chat"
    assert Message.objects.get(pk=said.pk).event == ""

    conversation = Conversation.objects.get(pk=conv.pk)
    guidance_acknowledge(user=alice, actor_ip=None)
    Conversation.objects.filter(pk=conv.pk).update(assigned_agent=alice)
    staff = Client()
    staff.force_login(alice)
    for lang, sentence in JOINED.items():
        with translation.override(lang):
            assert describe(event_of(line)) == sentence
        # The export, in the chat's language.
        Conversation.objects.filter(pk=conv.pk).update(language=lang)
        conversation.refresh_from_db()
        text = dsr.export_as_text(dsr.conversation_export(conversation=conversation))
        assert sentence in text
        # The transcript, in the reader's language.
        profile = profile_get(user=alice)
        profile.language = lang
        profile.save(update_fields=["language"])
        page = staff.get(f"/console/history/{conv.reference}/").content.decode()
        assert sentence in page


@pytest.mark.django_db
def test_joined_transferred_and_ended_are_facts(alice, bob):
    conv = Conversation.objects.create(token_hash="f" * 64, language="sv")
    conversation_claim(conversation_id=conv.pk, agent=alice)
    conv.refresh_from_db()
    conversation_transfer(conversation=conv, from_agent=alice, to_agent=bob)
    conversation_close(conversation=conv, closed_by=Conversation.ClosedBy.AGENT)
    facts = [event_of(m) for m in conv.messages.order_by("id")]
    assert facts == [
        {"kind": "joined", "name": "Alice Agent"},
        {"kind": "transferred", "name": "Bob Builder", "from": "Alice Agent"},
        {"kind": "ended", "by": "agent", "name": "Bob Builder"},
    ]
    assert not conv.messages.exclude(text="").exists()
    text = dsr.export_as_text(dsr.conversation_export(conversation=conv))
    assert "Alice Agent anslöt till chatten" in text
    assert "Alice Agent överförde chatten till Bob Builder" in text
    assert "Bob Builder avslutade chatten" in text
    with translation.override("fi"):
        assert describe({"kind": "ended", "by": "visitor"}) == "Kävijä lopetti keskustelun"
        assert describe({"kind": "erased", "by": "visitor"}) == "Kävijä poisti keskustelun"
