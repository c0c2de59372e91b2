"""`manage.py visitor_data`: the same find, export and erase, audited as manage.py."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from chat.models import AuditEvent, Conversation
from tests.dsr.test_data_requests import (
    SECRET_TEXT,
    VISITOR_IP,
    full_conversation,
    other_conversation,
    rows_of,
)

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("visitor_data", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_find_lists_matching_conversations_without_text():
    conv = full_conversation()
    other = other_conversation()
    out = run("find", "--ip", VISITOR_IP)
    assert conv.reference in out and other.reference not in out
    assert SECRET_TEXT not in out
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.SEARCH
    assert event.actor is None and event.actor_name == "manage.py"
    assert event.detail["criteria"] == ["ip"]


def test_find_by_time_range_and_reference():
    conv = full_conversation()
    other = other_conversation()
    # A bare date is a local calendar day, the way the person answering a request reads it.
    day = timezone.localdate(other.created_at).isoformat()
    assert other.reference in run("find", "--until", day)
    assert conv.reference not in run("find", "--until", day)
    assert conv.reference in run("find", "--reference", conv.reference.lower())


def test_find_without_criteria_fails_and_audits_nothing():
    with pytest.raises(CommandError, match="Give a reference"):
        run("find")
    with pytest.raises(CommandError):
        run("find", "--ip", "300.1.2.3")
    assert AuditEvent.objects.count() == 0


def test_export_writes_json_or_text_and_is_audited(tmp_path):
    conv = full_conversation()
    data = json.loads(run("export", "--reference", conv.reference, "--request-id", "DSR-3"))
    assert data["messages"][0]["text"] == SECRET_TEXT
    target = tmp_path / "export.txt"
    run(
        "export",
        "--reference",
        conv.reference,
        "--request-id",
        "DSR-3",
        "--format",
        "text",
        "--output",
        str(target),
    )
    assert SECRET_TEXT in target.read_text(encoding="utf-8")
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [AuditEvent.Action.EXPORT] * 2
    assert all(e.actor_name == "manage.py" and e.actor is None for e in events)
    assert [e.detail["format"] for e in events] == ["json", "text"]


def test_export_needs_a_request_id_and_a_known_reference():
    conv = full_conversation()
    with pytest.raises(CommandError):
        run("export", "--reference", conv.reference, "--request-id", " ")
    with pytest.raises(CommandError, match="no conversation"):
        run("export", "--reference", "ABCDE-FGHJK", "--request-id", "DSR-3")
    assert AuditEvent.objects.count() == 0


def test_erase_with_yes_deletes_everything_and_is_audited_once():
    conv = full_conversation()
    other = other_conversation()
    out = run("erase", "--reference", conv.reference, "--request-id", "DSR-4", "--yes")
    assert f"erased {conv.reference}" in out
    assert set(rows_of(conv.pk).values()) == {0}
    assert all(rows_of(other.pk).values())
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.ERASURE
    assert (event.actor, event.actor_name) == (None, "manage.py")
    assert event.detail["request_id"] == "DSR-4"


def test_erase_without_a_terminal_or_yes_erases_nothing():
    conv = full_conversation()
    with pytest.raises(CommandError, match="--yes"):
        run("erase", "--reference", conv.reference, "--request-id", "DSR-4")
    assert Conversation.objects.filter(pk=conv.pk).exists()
    assert AuditEvent.objects.count() == 0


def test_the_erasure_log_replays_after_a_restore(tmp_path):
    conv = full_conversation()
    reference = conv.reference
    run("erase", "--reference", reference, "--request-id", "DSR-5", "--yes")
    log = tmp_path / "erasures.json"
    run("erasures", "--output", str(log))
    assert json.loads(log.read_text())[0]["reference"] == reference
    restored = full_conversation(started=conv.created_at)
    Conversation.objects.filter(pk=restored.pk).update(reference=reference)
    out = run("replay-erasures", "--input", str(log), "--yes")
    assert f"erased {reference}" in out
    assert not Conversation.objects.filter(reference=reference).exists()
