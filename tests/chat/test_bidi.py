"""Bidirectional text: names never carry controls, text from people never reorders ours."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation

from agents.services import guidance_acknowledge
from chat.bidi import (
    BIDI_CONTROLS,
    isolate_plain,
    strip_bidi_controls,
    visible_controls_html,
)
from chat.models import AuditEvent, Conversation, Message
from chat.services import audit_record, conversation_claim, display_name, message_send
from chat.system_events import describe, event_of
from dsr import data_requests as dsr

pytestmark = pytest.mark.django_db

RLO = "\u202e"
EVERY_CONTROL = [
    "\u202a",  # LEFT-TO-RIGHT EMBEDDING
    "\u202b",  # RIGHT-TO-LEFT EMBEDDING
    "\u202c",  # POP DIRECTIONAL FORMATTING
    "\u202d",  # LEFT-TO-RIGHT OVERRIDE
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2067",  # RIGHT-TO-LEFT ISOLATE
    "\u2068",  # FIRST STRONG ISOLATE
    "\u2069",  # POP DIRECTIONAL ISOLATE
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
]


@pytest.mark.parametrize("control", EVERY_CONTROL, ids=lambda c: f"U+{ord(c):04X}")
def test_it_strips_every_bidi_control_from_a_name(control):
    assert strip_bidi_controls(f"Eve{control} Evil{control}") == "Eve Evil"


def test_it_knows_exactly_the_controls_it_strips():
    assert sorted(BIDI_CONTROLS) == sorted(EVERY_CONTROL)
    # Right-to-left letters are names, not controls: they stay.
    assert strip_bidi_controls("سارة Eve") == "سارة Eve"


def test_display_name_drops_controls_also_from_names_saved_before_the_rule(alice):
    get_user_model().objects.filter(pk=alice.pk).update(first_name=f"Eve{RLO}", last_name="Evil")
    alice.refresh_from_db()
    assert display_name(alice) == "Eve Evil"
    get_user_model().objects.filter(pk=alice.pk).update(
        first_name=RLO, last_name="", username=f"alice{RLO}"
    )
    alice.refresh_from_db()
    assert display_name(alice) == "alice"


def test_the_joined_line_reads_the_same_whatever_the_agent_calls_themselves(alice):
    alice.first_name = f"{RLO}Eve"
    alice.save(update_fields=["first_name"])
    conv = Conversation.objects.create(token_hash="a" * 64)
    conversation_claim(conversation_id=conv.pk, agent=alice)
    line = conv.messages.get(sender=Message.Sender.SYSTEM)
    assert (line.event, line.event_data) == ("joined", {"name": "Eve Agent"})
    assert line.author_name == "Eve Agent"
    with translation.override("en"):
        assert describe(event_of(line)) == "Eve Agent joined the chat"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batched", [True, False], ids=["writer", "general"])
async def test_a_frozen_author_name_never_carries_a_control_but_a_visitors_text_keeps_them(
    alice, batched
):
    alice.first_name = f"Eve{RLO}"
    alice.last_name = "Evil"
    await alice.asave(update_fields=["first_name", "last_name"])
    conv = await Conversation.objects.acreate(
        token_hash="b" * 64, status=Conversation.Status.ACTIVE, assigned_agent=alice
    )
    common = {"conversation_id": conv.pk, "batched": batched}
    reply = await message_send(
        sender=Message.Sender.AGENT, agent=alice, text="Hi", client_msg_id="a1", **common
    )
    said = await message_send(
        sender=Message.Sender.VISITOR, text=f"abc{RLO}def", client_msg_id="v1", **common
    )
    assert reply["author_name"] == "Eve Evil"
    assert (await Message.objects.aget(pk=reply["id"])).author_name == "Eve Evil"
    assert (await Message.objects.aget(pk=said["id"])).text == f"abc{RLO}def"


def test_audit_names_carry_no_controls():
    event = audit_record(action=AuditEvent.Action.PURGE_RUN, actor_name=f"manage{RLO}.py")
    assert event.actor_name == "manage.py"


def test_staff_see_each_control_in_a_visitors_text_as_a_visible_marker():
    html = visible_controls_html(f"<b>{RLO}gnp.exe\u2066x")
    assert html == (
        '&lt;b&gt;<span class="bidi-mark">⟨U+202E⟩</span>gnp.exe'
        '<span class="bidi-mark">⟨U+2066⟩</span>x'
    )
    assert visible_controls_html("<i>plain</i>") == "&lt;i&gt;plain&lt;/i&gt;"


def test_the_transcript_shows_the_controls_of_a_visitors_message_to_staff(alice):
    conv = Conversation.objects.create(token_hash="c" * 64, assigned_agent=alice)
    Message.objects.create(conversation=conv, sender="visitor", text=f"see {RLO}fdp.exe")
    Message.objects.create(conversation=conv, sender="agent", author_name="Alice", text="ok")
    guidance_acknowledge(user=alice, actor_ip=None)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/console/history/{conv.reference}/").content.decode()
    assert '<p class="text" dir="auto">see <span class="bidi-mark">⟨U+202E⟩</span>fdp.exe' in page
    assert "<bdi>Alice</bdi>" in page
    assert RLO not in page


def test_the_text_export_isolates_what_people_wrote_and_leaves_plain_text_alone(alice):
    conv = Conversation.objects.create(token_hash="d" * 64, assigned_agent=alice, language="en")
    Message.objects.create(conversation=conv, sender="visitor", text=f"abc{RLO}def\nsecond")
    Message.objects.create(conversation=conv, sender="agent", author_name="سارة", text="ok")
    text = dsr.export_as_text(dsr.conversation_export(conversation=conv))
    # The visitor's characters are returned as stored, closed off from the export's own labels.
    assert f"    \u2068abc{RLO}def\u2069\n    second\n" in text
    assert "] \u2068سارة\u2069:\n    ok\n" in text
    assert "  Agent: Alice Agent\n" in text
    assert isolate_plain("Alice Agent") == "Alice Agent"


def test_admin_lists_isolate_names(client, dana):
    audit_record(action=AuditEvent.Action.PURGE_RUN, actor_name="سارة")
    client.force_login(dana)
    page = client.get("/admin/chat/auditevent/").content.decode()
    assert "<bdi>سارة</bdi>" in page


def test_every_admin_list_that_names_people_isolates_the_names(client):
    from agents.access import role_grant
    from agents.models import CannedReply
    from agents.roles import AGENT, roles_sync
    from chat.models import ControllerDetails

    roles_sync()
    admin = get_user_model().objects.create_superuser("root", password="x" * 20)
    sara = get_user_model().objects.create_user("sara", first_name="سارة")
    role_grant(user=sara, role=AGENT, actor=admin, approved_by="مدير")
    Conversation.objects.create(token_hash="e" * 64, assigned_agent=sara)
    ControllerDetails.objects.create(controller_name="شركة")
    CannedReply.objects.create(title="تحية", shortcut="hi", text="Hello")
    client.force_login(admin)
    for url, name in [
        ("/admin/chat/conversation/", "سارة"),
        ("/admin/chat/controllerdetails/", "شركة"),
        ("/admin/agents/cannedreply/", "تحية"),
        ("/admin/agents/accessgrant/", "مدير"),
        ("/admin/agents/accessgrant/", "sara"),
    ]:
        page = client.get(url).content.decode()
        assert f"<bdi>{name}</bdi>" in page, url


def test_the_console_header_names_the_agent_by_the_one_rule(alice):
    get_user_model().objects.filter(pk=alice.pk).update(first_name=f"Eve{RLO}", last_name="Evil")
    guidance_acknowledge(user=alice, actor_ip=None)
    client = Client()
    client.force_login(alice)
    page = client.get("/console/history/").content.decode()
    assert '<bdi class="who">Eve Evil</bdi>' in page
