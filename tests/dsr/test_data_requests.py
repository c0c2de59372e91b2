"""Data-subject requests: finding, exporting and erasing one visitor's conversation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from chat.models import (
    AuditEvent,
    Conversation,
    HostContext,
    Message,
    PageVisit,
    Participation,
    VisitorConnection,
    hash_token,
    new_visitor_token,
)
from chat.services import audit_record
from dsr import data_requests as dsr
from feedback.models import Feedback

pytestmark = pytest.mark.django_db

VISITOR_IP = "198.51.100.23"
OTHER_IP = "192.0.2.99"
SECRET_TEXT = "My student number is 1234567, please help with the course fee"
OTHER_TEXT = "Someone else's question about opening hours"


def full_conversation(
    *,
    agent=None,
    ip: str = VISITOR_IP,
    text: str = SECRET_TEXT,
    url: str = "https://www.example.org/courses/fees/",
    comment: str = "Quick and friendly",
    started=None,
) -> Conversation:
    """A conversation with a row of every kind the register stores about one visitor."""
    started = started or timezone.now() - timedelta(days=3)
    conv = Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        language="fi",
        status=Conversation.Status.CLOSED,
        assigned_agent=agent,
        created_at=started,
        last_activity_at=started + timedelta(minutes=20),
        claimed_at=started + timedelta(minutes=1),
        closed_at=started + timedelta(minutes=20),
        closed_by=Conversation.ClosedBy.VISITOR,
    )
    Message.objects.create(
        conversation=conv, sender="visitor", text=text, created_at=started, client_msg_id="c1"
    )
    Message.objects.create(
        conversation=conv,
        sender="agent",
        agent=agent,
        author_name="Alice Agent" if agent else "Agent",
        text="Let me check that for you.",
        created_at=started + timedelta(minutes=2),
    )
    VisitorConnection.objects.create(
        conversation=conv,
        ip_address=ip,
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        browser="Firefox",
        os="Linux",
        device_type="desktop",
        language="fi-FI",
        screen="1920x1080",
        created_at=started,
    )
    PageVisit.objects.create(
        conversation=conv,
        url=url,
        title="Course fees",
        referrer="https://www.example.org/",
        created_at=started,
    )
    HostContext.objects.create(
        conversation=conv, data={"course": f"course-for-{ip}"}, created_at=started
    )
    Feedback.objects.create(
        conversation=conv, service_satisfied=True, channel_satisfied=False, comment=comment
    )
    # Who took part: the agent, else a colleague who served it before (an account of its own).
    server = agent or get_user_model().objects.get_or_create(username="former-agent")[0]
    Participation.objects.create(conversation=conv, agent=server, via="claimed", created_at=started)
    return conv


def other_conversation() -> Conversation:
    return full_conversation(
        ip=OTHER_IP,
        text=OTHER_TEXT,
        url="https://www.example.org/other-page/",
        comment="Another visitor's comment",
        started=timezone.now() - timedelta(days=40),
    )


def register_models() -> list[tuple[type[models.Model], str]]:
    """Every table with a foreign key to a conversation, in every installed app."""
    found = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if (
                isinstance(field, (models.ForeignKey, models.OneToOneField))
                and field.related_model is Conversation
            ):
                found.append((model, field.name))
    return found


def rows_of(conversation_id: int) -> dict[str, int]:
    counts = {"chat.conversation": Conversation.objects.filter(pk=conversation_id).count()}
    for model, field in register_models():
        counts[model._meta.label_lower] = model.objects.filter(
            **{f"{field}_id": conversation_id}
        ).count()
    return counts


# --- export -----------------------------------------------------------------------------------


def test_the_test_conversation_has_a_row_in_every_table_of_the_register(alice):
    conv = full_conversation(agent=alice)
    counts = rows_of(conv.pk)
    assert all(counts.values()), counts
    # Message, VisitorConnection, PageVisit, HostContext and Feedback at least.
    assert len(counts) >= 6


def test_an_export_contains_every_kind_of_row_of_the_conversation_and_nothing_else(alice):
    conv = full_conversation(agent=alice)
    other = other_conversation()
    audit_record(action=AuditEvent.Action.TRANSCRIPT_OPENED, actor=alice, object_ref=conv.reference)
    audit_record(
        action=AuditEvent.Action.TRANSCRIPT_OPENED, actor=alice, object_ref=other.reference
    )

    data = dsr.conversation_export(conversation=conv)

    # Every relation hanging off a conversation has a section with this conversation's rows.
    for name, rows in dsr.conversation_rows(conv):
        assert rows, name
    assert data["conversation"]["reference"] == conv.reference
    assert [m["text"] for m in data["messages"]] == [SECRET_TEXT, "Let me check that for you."]
    assert data["messages"][1]["author_name"] == "Alice Agent"
    assert all(m["time"] for m in data["messages"])
    assert data["connections"][0]["ip_address"] == VISITOR_IP
    assert data["connections"][0]["browser"] == "Firefox"
    assert data["connections"][0]["screen"] == "1920x1080"
    assert data["pages"][0]["url"] == "https://www.example.org/courses/fees/"
    assert data["host_context"][0]["data"] == {"course": f"course-for-{VISITOR_IP}"}
    assert data["feedback"]["comment"] == "Quick and friendly"
    assert data["feedback"]["service_satisfied"] is True
    assert len(data["transcript_opened_by_staff_at"]) == 1
    assert "other" not in data

    dumped = dsr.export_as_json(data)
    for foreign in (other.reference, OTHER_IP, OTHER_TEXT, "other-page", "Another visitor"):
        assert foreign not in dumped
    # The dates staff opened it, but not who: no username, no account id.
    assert '"alice"' not in dumped and "actor" not in dumped
    assert conv.token_hash not in dumped


def test_the_text_export_is_readable_and_holds_the_same_data(alice):
    conv = full_conversation(agent=alice)
    Conversation.objects.filter(pk=conv.pk).update(language="en")
    conv.refresh_from_db()
    other_conversation()
    audit_record(action=AuditEvent.Action.TRANSCRIPT_OPENED, actor=alice, object_ref=conv.reference)
    text = dsr.export_as_text(dsr.conversation_export(conversation=conv))
    for expected in (
        conv.reference,
        SECRET_TEXT,
        "Alice Agent:",
        VISITOR_IP,
        "Firefox",
        "https://www.example.org/courses/fees/",
        "course-for-",
        "Quick and friendly",
        "Satisfied with the service: yes",
        "Satisfied with chat as a channel: no",
    ):
        assert expected in text
    assert OTHER_TEXT not in text and OTHER_IP not in text
    assert "alice" not in text.replace("Alice Agent", "")
    assert "TRANSCRIPT OPENED" in text and "(never)" not in text


def test_an_export_without_feedback_says_so():
    conv = full_conversation()
    Conversation.objects.filter(pk=conv.pk).update(language="en-GB")
    Feedback.objects.filter(conversation=conv).delete()
    conv = Conversation.objects.get(pk=conv.pk)
    data = dsr.conversation_export(conversation=conv)
    assert data["feedback"] is None
    assert "QUICK FEEDBACK\n  (none)" in dsr.export_as_text(data)


def test_exporting_writes_one_audit_event_with_the_request_id_and_no_content(dana):
    conv = full_conversation()
    result = dsr.visitor_data_export(
        conversation=conv, request_id=" DSR-2026-014 ", fmt="text", actor=dana
    )
    assert result.filename == f"chat-{conv.reference}.txt"
    assert SECRET_TEXT in result.content
    event = _audit().get()
    assert event.action == AuditEvent.Action.EXPORT
    assert event.actor == dana and event.object_ref == conv.reference
    assert event.detail == {"request_id": "DSR-2026-014", "format": "text"}
    _assert_no_content(event)


@pytest.mark.parametrize("request_id", ["", "   ", None, "x" * 65, "bad\x00id"])
def test_export_and_erasure_refuse_a_missing_or_bad_request_id(request_id):
    conv = full_conversation()
    with pytest.raises(dsr.DataRequestError):
        dsr.visitor_data_export(conversation=conv, request_id=request_id)
    with pytest.raises(dsr.DataRequestError):
        dsr.visitor_data_erase(conversation=conv, request_id=request_id)
    assert _audit().count() == 0
    assert all(rows_of(conv.pk).values())


def test_an_unknown_export_format_is_refused():
    conv = full_conversation()
    with pytest.raises(dsr.DataRequestError):
        dsr.visitor_data_export(conversation=conv, request_id="DSR-1", fmt="xml")
    assert _audit().count() == 0


# --- erasure ----------------------------------------------------------------------------------


def test_an_erasure_leaves_no_row_of_the_conversation_in_any_table(alice, dana):
    conv = full_conversation(agent=alice)
    other = other_conversation()
    before_other = rows_of(other.pk)

    deleted = dsr.visitor_data_erase(conversation=conv, request_id="DSR-2026-014", actor=dana)

    assert set(rows_of(conv.pk).values()) == {0}
    assert rows_of(other.pk) == before_other
    assert deleted["chat.message"] == 2 and deleted["feedback.feedback"] == 1
    assert deleted["chat.conversation"] == 1
    # Staff accounts are not part of the conversation and stay.
    assert alice.__class__.objects.filter(pk=alice.pk).exists()


def test_an_erasure_writes_one_audit_event_without_the_erased_content(dana):
    conv = full_conversation()
    reference = conv.reference
    dsr.visitor_data_erase(conversation=conv, request_id="DSR-2026-015", actor=dana)
    event = _audit().get()
    assert event.action == AuditEvent.Action.ERASURE
    assert event.object_ref == reference
    assert event.actor_name == "dana"
    assert event.detail["request_id"] == "DSR-2026-015"
    assert event.detail["deleted"]["chat.visitorconnection"] == 1
    _assert_no_content(event)


def test_an_erasure_announces_itself_to_the_conversation_after_commit(
    dana, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "realtime.events.send_now", lambda group, event: sent.append((group, event))
    )
    conv = full_conversation()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dsr.visitor_data_erase(conversation=conv, request_id="DSR-1", actor=dana)
        assert sent == []
    for callback in callbacks:
        callback()
    event = {"type": "conversation.erased", "conversation_id": conv.pk, "by": "request"}
    assert (f"conv.{conv.pk}", event) in sent
    assert ("agents", event) in sent


# --- search -----------------------------------------------------------------------------------


def test_it_finds_a_conversation_by_its_reference_as_people_type_it():
    conv = full_conversation()
    other_conversation()
    typed = conv.reference.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    found = dsr.conversation_search(criteria=dsr.Criteria.build(reference=typed))
    assert found == [conv]


def test_it_finds_conversations_by_ip_by_time_and_by_text():
    conv = full_conversation()
    other = other_conversation()
    by_ip = dsr.conversation_search(criteria=dsr.Criteria.build(ip=VISITOR_IP))
    assert by_ip == [conv]
    by_time = dsr.conversation_search(
        criteria=dsr.Criteria.build(since=timezone.now() - timedelta(days=45), until=None)
    )
    assert set(by_time) == {conv, other}
    older = dsr.conversation_search(
        criteria=dsr.Criteria.build(until=(timezone.now() - timedelta(days=30)).isoformat())
    )
    assert older == [other]
    by_text = dsr.conversation_search(criteria=dsr.Criteria.build(text="student NUMBER"))
    assert by_text == [conv]
    # Criteria combine: the visitor's IP with the other one's words finds nothing.
    assert dsr.conversation_search(criteria=dsr.Criteria.build(ip=VISITOR_IP, text="opening")) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reference": "   "},
        {"reference": "ABC"},
        {"ip": "not-an-ip"},
        {"since": "yesterday"},
        {"since": "2026-05-02", "until": "2026-05-01"},
        {"text": "a"},
    ],
)
def test_a_search_without_usable_criteria_is_refused(kwargs):
    with pytest.raises(dsr.DataRequestError):
        dsr.Criteria.build(**kwargs)


def test_a_search_is_audited_once_with_only_the_kinds_of_criteria(dana):
    full_conversation()
    criteria = dsr.Criteria.build(ip=VISITOR_IP, text="student", since="2020-01-01")
    found = dsr.visitor_data_search(criteria=criteria, actor=dana, actor_ip="127.0.0.1")
    assert len(found) == 1
    event = _audit().get()
    assert event.action == AuditEvent.Action.SEARCH
    assert event.detail == {
        "purpose": "data_request",
        "criteria": ["ip", "time", "text"],
        "results": 1,
    }
    _assert_no_content(event)
    assert "student" not in json.dumps(event.detail)


# --- backups ----------------------------------------------------------------------------------


def test_erasures_can_be_replayed_after_a_restore(dana):
    conv = full_conversation()
    reference, started = conv.reference, conv.created_at
    dsr.visitor_data_erase(conversation=conv, request_id="DSR-7", actor=dana)
    log = dsr.erasure_log()
    assert [e["reference"] for e in log] == [reference]
    assert log[0]["request_id"] == "DSR-7"

    # The restored backup brings the conversation back.
    restored = full_conversation(started=started)
    Conversation.objects.filter(pk=restored.pk).update(reference=reference)
    untouched = other_conversation()

    erased = dsr.visitor_data_replay_erasures(entries=log, actor_name="manage.py")
    assert erased == [reference]
    assert set(rows_of(restored.pk).values()) == {0}
    assert all(rows_of(untouched.pk).values())
    replay = AuditEvent.objects.filter(action=AuditEvent.Action.ERASURE).first()
    assert replay.detail["request_id"] == "DSR-7 (replayed)"
    assert replay.actor is None and replay.actor_name == "manage.py"


def test_a_replay_spares_a_later_conversation_that_drew_the_same_reference(dana):
    conv = full_conversation()
    reference = conv.reference
    dsr.visitor_data_erase(conversation=conv, request_id="DSR-8", actor=dana)
    log = dsr.erasure_log()
    later = full_conversation(started=timezone.now() + timedelta(minutes=5))
    Conversation.objects.filter(pk=later.pk).update(reference=reference)
    assert dsr.visitor_data_replay_erasures(entries=log) == []
    assert Conversation.objects.filter(pk=later.pk).exists()


def _assert_no_content(event: AuditEvent) -> None:
    stored = json.dumps(
        [event.object_ref, event.detail, event.actor_name, event.actor_ip], ensure_ascii=False
    )
    for secret in (SECRET_TEXT, "student", VISITOR_IP, "Firefox", "courses/fees", "Quick and"):
        assert secret not in stored


def _audit():
    # Setting up the named users (roles, logins) is audited too; these tests look at the
    # events of the actions under test.
    return AuditEvent.objects.exclude(
        action__in=["role_granted", "role_revoked", "login", "logout", "guidance_ack"]
    )
