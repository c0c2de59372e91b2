"""Erasure tombstones: written after the erasure commits, pruned with the backup rotation, and
replayed by `manage.py replay_erasures` after a restore."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from chat.models import Conversation
from dsr import data_requests as dsr
from retention import tombstones
from tests.dsr.test_data_requests import SECRET_TEXT, VISITOR_IP, full_conversation

pytestmark = pytest.mark.django_db


def erase(conv: Conversation, request_id: str = "DSR-1") -> None:
    dsr.visitor_data_erase(conversation=conv, request_id=request_id, actor_name="manage.py")


def test_an_erasure_leaves_a_tombstone_without_content(django_capture_on_commit_callbacks):
    conv = full_conversation()
    with django_capture_on_commit_callbacks(execute=True):
        erase(conv, "DSR-21")
    [stone] = tombstones.tombstones()
    assert stone["reference"] == conv.reference
    assert stone["request_id"] == "DSR-21"
    assert set(stone) == {"reference", "erased_at", "request_id"}
    text = tombstones.tombstone_path().read_text(encoding="utf-8")
    for secret in (SECRET_TEXT, "student", VISITOR_IP, "Firefox", "courses/fees", "Quick and"):
        assert secret not in text


def test_the_tombstone_is_written_only_when_the_erasure_commits(
    django_capture_on_commit_callbacks,
):
    conv = full_conversation()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        erase(conv)
        raise RuntimeError("the request failed after the erasure")
    assert callbacks == []
    assert tombstones.tombstones() == []
    assert Conversation.objects.filter(pk=conv.pk).exists()


def test_the_visitors_own_erasure_leaves_one_too(client, django_capture_on_commit_callbacks):
    from tests.dsr.test_visitor_rights import ERASE, post, start

    conv, token = start()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, ERASE, {"token": token}).status_code == 200
    assert [s["reference"] for s in tombstones.tombstones()] == [conv.reference]


def test_tombstones_older_than_the_backup_rotation_are_pruned_by_the_purge(settings):
    from retention.purge import purge_expired

    settings.CHAT_BACKUP_ROTATION_DAYS = 35
    now = timezone.now()
    tombstones.tombstone_record(
        reference="OLDXX-11111", erased_at=now - timedelta(days=36), request_id="DSR-1"
    )
    tombstones.tombstone_record(
        reference="NEWXX-22222", erased_at=now - timedelta(days=34), request_id="DSR-2"
    )
    outcome = purge_expired(now=now)
    assert outcome.tombstones_pruned == 1
    assert [s["reference"] for s in tombstones.tombstones()] == ["NEWXX-22222"]


def test_a_line_cut_short_by_a_crash_does_not_hide_the_others():
    now = timezone.now()
    tombstones.tombstone_record(reference="AAAAA-11111", erased_at=now, request_id="r")
    with open(tombstones.tombstone_path(), "a", encoding="utf-8") as f:
        f.write('{"reference": "BBB')
    tombstones.tombstone_record(reference="CCCCC-33333", erased_at=now, request_id="r")
    refs = [s["reference"] for s in tombstones.tombstones()]
    assert "AAAAA-11111" in refs and "CCCCC-33333" in refs


def replay() -> str:
    out = StringIO()
    call_command("replay_erasures", stdout=out)
    return out.getvalue()


def test_replay_erases_a_restored_chat_once_and_spares_a_later_one_with_its_reference(
    django_capture_on_commit_callbacks,
):
    conv = full_conversation()
    reference, started = conv.reference, conv.created_at
    with django_capture_on_commit_callbacks(execute=True):
        erase(conv)
    # The restored backup brings the conversation back...
    restored = full_conversation(started=started)
    Conversation.objects.filter(pk=restored.pk).update(reference=reference)

    with django_capture_on_commit_callbacks(execute=True):
        first = replay()
    assert "erased again 1 restored conversation(s)" in first
    assert not Conversation.objects.filter(pk=restored.pk).exists()
    # ...the replay keeps the original tombstone rather than adding one of its own.
    assert len(tombstones.tombstones()) == 1

    # A chat started after the erasure that drew the same reference is someone else's.
    later = full_conversation(started=timezone.now() + timedelta(minutes=5))
    Conversation.objects.filter(pk=later.pk).update(reference=reference)
    with django_capture_on_commit_callbacks(execute=True):
        second = replay()
    assert "erased again 0 restored conversation(s)" in second
    assert Conversation.objects.filter(pk=later.pk).exists()
    for secret in (SECRET_TEXT, VISITOR_IP):
        assert secret not in first + second
    assert json.loads(tombstones.tombstone_path().read_text().splitlines()[0])["reference"]
