"""The retention purge: what goes, what stays, and that it finishes whatever happens to it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axes.models import AccessAttempt, AccessLog
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from chat import hooks
from chat.models import (
    AuditEvent,
    Conversation,
    HostContext,
    Message,
    PageVisit,
    RetentionRun,
    VisitorConnection,
    hash_token,
    new_visitor_token,
)
from chat.retention_period import months_before, retention_cutoff
from feedback.models import DailyStat, Feedback
from retention import purge as retention
from retention.status import retention_status

HELSINKI = ZoneInfo("Europe/Helsinki")
# Winter time when the rows are written, summer time three months later: calendar months keep
# the wall-clock time, so the boundary is exactly 10:00 local on 10 June.
WRITTEN = datetime(2026, 3, 10, 10, 0, tzinfo=HELSINKI)
THREE_MONTHS_LATER = datetime(2026, 6, 10, 10, 0, tzinfo=HELSINKI)

KINDS = (Message, PageVisit, VisitorConnection, HostContext, Feedback)


def _conversation(at: datetime, *, messages: int = 2) -> Conversation:
    """A closed conversation written at `at` with a row of every dependent kind."""
    conv = Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        status=Conversation.Status.CLOSED,
        created_at=at,
        last_activity_at=at,
        closed_at=at,
    )
    for i in range(messages):
        Message.objects.create(
            conversation=conv, sender="visitor", text=f"hello {i}", created_at=at
        )
    PageVisit.objects.create(conversation=conv, url="https://www.example.org/", created_at=at)
    VisitorConnection.objects.create(conversation=conv, ip_address="203.0.113.9", created_at=at)
    HostContext.objects.create(conversation=conv, data={"customer": "x"}, created_at=at)
    Feedback.objects.create(conversation=conv, service_satisfied=True, created_at=at)
    return conv


def _rows_of(conv_id: int) -> int:
    return sum(kind.objects.filter(conversation_id=conv_id).count() for kind in KINDS)


@pytest.fixture
def folded():
    """A feedback-like aggregator plugged into the purge's hooks, as the feedback app does.

    Answers are counted when the purge asks for its tables, before it deletes anything (the
    feedback app folds whole days there); chats are counted by `retention_before_delete`, in the
    transaction that deletes their conversations.
    """
    seen: list[int] = []
    counted_answers: set[int] = set()

    def stat() -> DailyStat:
        return DailyStat.objects.get_or_create(day=WRITTEN.date(), agent=None)[0]

    def fold(conversation_ids):
        # The conversations are still there; their own rows went by their own time already.
        assert Conversation.objects.filter(pk__in=conversation_ids).count() == len(conversation_ids)
        assert not Message.objects.filter(conversation_id__in=conversation_ids).exists()
        seen.extend(conversation_ids)
        row = stat()
        row.chats += len(conversation_ids)
        row.save()

    def models_():
        answers = Feedback.objects.exclude(pk__in=counted_answers)
        if answers.exists():
            row = stat()
            row.service_yes += answers.filter(service_satisfied=True).count()
            row.save()
            counted_answers.update(answers.values_list("pk", flat=True))
        return [(Feedback, "created_at")]

    with mock.patch.dict(hooks._registry, clear=False) as registry:
        registry["retention_before_delete"] = [(fold, None)]
        registry["retention_models"] = [(models_, None)]
        yield seen


def test_calendar_months_keep_the_wall_clock_and_clamp_to_month_end():
    assert months_before(THREE_MONTHS_LATER, 3) == WRITTEN
    may_31 = datetime(2026, 5, 31, 12, 0, tzinfo=HELSINKI)
    assert months_before(may_31, 3) == datetime(2026, 2, 28, 12, 0, tzinfo=HELSINKI)


@pytest.mark.django_db
def test_a_minute_inside_the_period_survives_a_minute_outside_is_gone_with_every_row(folded):
    conv = _conversation(WRITTEN)
    assert _rows_of(conv.pk) == 6

    with time_machine.travel(THREE_MONTHS_LATER - timedelta(minutes=1), tick=False):
        outcome = retention.purge_expired(batch_size=1)
    assert outcome.status == "done"
    assert Conversation.objects.filter(pk=conv.pk).exists()
    assert _rows_of(conv.pk) == 6
    assert folded == []

    with time_machine.travel(THREE_MONTHS_LATER + timedelta(minutes=1), tick=False):
        outcome = retention.purge_expired(batch_size=1)
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert _rows_of(conv.pk) == 0
    assert outcome.deleted == {
        "chat.conversation": 1,
        "chat.message": 2,
        "chat.pagevisit": 1,
        "chat.visitorconnection": 1,
        "chat.hostcontext": 1,
        "feedback.feedback": 1,
    }
    # The aggregates were folded from the rows before they went, and they stay.
    assert folded == [conv.pk]
    stat = DailyStat.objects.get()
    assert (stat.chats, stat.service_yes) == (1, 1)


@pytest.mark.django_db
def test_a_conversation_is_folded_once_even_when_its_batch_fails_after_the_hook(folded):
    conv = _conversation(WRITTEN)
    real_delete_ids = retention._delete_ids
    calls = []

    def fail_once_on_conversations(cursor, model, ids, counts, depth=0):
        if model is Conversation and not calls:
            calls.append(ids)
            raise RuntimeError("worker killed")
        return real_delete_ids(cursor, model, ids, counts, depth)

    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        with (
            mock.patch.object(retention, "_delete_ids", fail_once_on_conversations),
            pytest.raises(RuntimeError),
        ):
            retention.purge_expired()
        # The hook ran, but its count went with the batch's transaction.
        assert folded == [conv.pk]
        assert Conversation.objects.filter(pk=conv.pk).exists()
        assert DailyStat.objects.get().chats == 0

        retention.purge_expired()

    assert folded == [conv.pk, conv.pk]
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert DailyStat.objects.get().chats == 1


class _StatementTimeout(Exception):
    sqlstate = "57014"  # query_canceled, as PostgreSQL reports a statement_timeout


@pytest.mark.django_db
def test_a_batch_cancelled_for_taking_too_long_is_retried_smaller_and_counted_once(folded):
    from django.db import OperationalError

    convs = [_conversation(WRITTEN) for _ in range(5)]
    real_delete_ids = retention._delete_ids
    sizes = []

    def time_out_once(cursor, model, ids, counts, depth=0):
        if model is Conversation:
            sizes.append(len(ids))
            if len(sizes) == 1:
                try:
                    raise _StatementTimeout
                except _StatementTimeout as cause:
                    raise OperationalError(
                        "canceling statement due to statement timeout"
                    ) from cause
        return real_delete_ids(cursor, model, ids, counts, depth)

    with (
        time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False),
        mock.patch.object(retention, "FIRST_CONVERSATION_BATCH", 8),
        mock.patch.object(retention, "MIN_BATCH_ROWS", 1),
        # Every batch counts as fast, however busy the machine: the sizes follow the rule alone
        # (a slow batch would shrink the next one by its time).
        mock.patch.object(retention, "TARGET_BATCH_SECONDS", 3600.0),
        mock.patch.object(retention, "_delete_ids", time_out_once),
    ):
        outcome = retention.purge_expired()

    assert outcome.status == "done"
    # The cancelled batch of 5 rolled back whole (hook included) and went again at 8 // 4 = 2,
    # then grew by at most 1.25 a batch (2.5, so 2 again).
    assert sizes == [5, 2, 2, 1]
    assert outcome.deleted["chat.conversation"] == 5
    assert not Conversation.objects.filter(pk__in=[c.pk for c in convs]).exists()
    assert DailyStat.objects.get().chats == 5


@pytest.mark.django_db
def test_a_conversation_whose_rows_are_already_gone_is_deleted_alone():
    conv = Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()), created_at=WRITTEN, last_activity_at=WRITTEN
    )
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        outcome = retention.purge_expired()
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert outcome.deleted == {"chat.conversation": 1}


@pytest.mark.django_db
def test_an_expired_conversation_takes_rows_newer_than_its_last_activity_with_it():
    conv = _conversation(WRITTEN)
    # A row written after the conversation's last activity is not expired by its own time,
    # but it must not keep the conversation (and the visitor's token hash) alive.
    later = PageVisit.objects.create(
        conversation=conv, url="https://www.example.org/late", created_at=WRITTEN + timedelta(45)
    )
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        outcome = retention.purge_expired()
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert not PageVisit.objects.filter(pk=later.pk).exists()
    assert outcome.deleted["chat.pagevisit"] == 2
    assert outcome.deleted["chat.message"] == 2


@pytest.mark.django_db
def test_rows_sharing_one_time_across_batch_edges_are_each_deleted_once():
    conv = _conversation(THREE_MONTHS_LATER)
    for i in range(7):
        Message.objects.create(
            conversation=conv, sender="visitor", text=f"old {i}", created_at=WRITTEN
        )
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(minutes=1), tick=False):
        outcome = retention.purge_expired(batch_size=3)
    assert outcome.deleted == {"chat.message": 7}
    assert outcome.batches == 3
    assert Message.objects.filter(conversation=conv).count() == 2


@pytest.mark.django_db
def test_a_long_conversation_loses_its_old_messages_and_keeps_the_recent_ones():
    conv = _conversation(WRITTEN)
    recent_at = WRITTEN + timedelta(days=80)
    recent = Message.objects.create(
        conversation=conv, sender="agent", text="still here", created_at=recent_at
    )
    PageVisit.objects.create(
        conversation=conv, url="https://www.example.org/b", created_at=recent_at
    )
    Conversation.objects.filter(pk=conv.pk).update(last_activity_at=recent_at)

    with time_machine.travel(THREE_MONTHS_LATER + timedelta(days=1), tick=False):
        outcome = retention.purge_expired()

    assert Conversation.objects.filter(pk=conv.pk).exists()
    assert list(Message.objects.filter(conversation=conv)) == [recent]
    assert PageVisit.objects.filter(conversation=conv).count() == 1
    assert VisitorConnection.objects.filter(conversation=conv).count() == 0
    assert HostContext.objects.filter(conversation=conv).count() == 0
    assert outcome.deleted["chat.message"] == 2
    assert "chat.conversation" not in outcome.deleted


@pytest.mark.django_db
def test_a_second_run_deletes_nothing():
    for _ in range(3):
        _conversation(WRITTEN)
    keep = _conversation(THREE_MONTHS_LATER)
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        first = retention.purge_expired(batch_size=2)
        second = retention.purge_expired(batch_size=2)
    assert first.deleted["chat.conversation"] == 3
    assert second.status == "done"
    assert second.deleted == {}
    assert list(Conversation.objects.all()) == [keep]


@pytest.mark.django_db
def test_each_run_is_recorded_with_counts_and_audited_without_register_data():
    _conversation(WRITTEN)
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        outcome = retention.purge_expired()
    run = RetentionRun.objects.get()
    assert run == outcome.run
    assert run.succeeded and not run.dry_run and run.finished_at >= run.started_at
    assert run.deleted["chat.message"] == 2
    event = AuditEvent.objects.get(action=AuditEvent.Action.PURGE_RUN)
    assert event.detail["deleted"] == run.deleted
    assert event.actor_ip is None
    assert "hello" not in str(event.detail) and "203.0.113.9" not in str(event.detail)


@pytest.mark.django_db
def test_dry_run_counts_and_deletes_nothing(capsys):
    conv = _conversation(WRITTEN)
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        call_command("purge_expired", "--dry-run")
    out = capsys.readouterr().out
    assert "would delete 1 chat.conversation" in out
    assert "would delete 2 chat.message" in out
    assert "would delete 1 feedback.feedback" in out
    assert _rows_of(conv.pk) == 6
    assert RetentionRun.objects.get().dry_run


@pytest.mark.django_db
def test_the_command_prints_what_it_deleted(capsys):
    _conversation(WRITTEN)
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        call_command("purge_expired")
        first = capsys.readouterr().out
        call_command("purge_expired")
        second = capsys.readouterr().out
    assert "deleted 1 chat.conversation" in first
    assert "deleted 2 chat.message" in first
    assert "deleted nothing" in second


@pytest.mark.django_db
def test_the_command_refuses_a_nonsense_batch_size():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("purge_expired", "--batch-size", "0")


@pytest.mark.django_db
def test_sessions_login_attempts_and_old_audit_events_go_too():
    now = THREE_MONTHS_LATER
    Session.objects.create(session_key="a" * 32, session_data="x", expire_date=now - timedelta(1))
    Session.objects.create(session_key="b" * 32, session_data="x", expire_date=now + timedelta(1))
    for model in (AccessAttempt, AccessLog):
        extra = {"failures_since_start": 1} if model is AccessAttempt else {}
        old = model.objects.create(user_agent="ua", ip_address="198.51.100.1", **extra)
        new = model.objects.create(user_agent="ua", ip_address="198.51.100.1", **extra)
        model.objects.filter(pk=old.pk).update(attempt_time=WRITTEN - timedelta(minutes=1))
        model.objects.filter(pk=new.pk).update(attempt_time=WRITTEN + timedelta(minutes=1))
    AuditEvent.objects.create(action="login", created_at=now - timedelta(days=370))
    kept_event = AuditEvent.objects.create(action="login", created_at=now - timedelta(days=300))
    RetentionRun.objects.create(started_at=now - timedelta(days=370), cutoff=WRITTEN)

    with time_machine.travel(now, tick=False):
        outcome = retention.purge_expired()

    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]
    assert AccessAttempt.objects.count() == 1 and AccessLog.objects.count() == 1
    assert AccessAttempt.objects.get().attempt_time > WRITTEN
    assert AuditEvent.objects.filter(action="login").get() == kept_event
    assert outcome.deleted["sessions.session"] == 1
    assert outcome.deleted["axes.accessattempt"] == 1
    assert outcome.deleted["chat.auditevent"] == 1
    assert outcome.deleted["chat.retentionrun"] == 1
    assert list(RetentionRun.objects.all()) == [outcome.run]


@pytest.mark.django_db
def test_a_run_killed_midway_is_completed_by_the_next():
    for _ in range(5):
        _conversation(WRITTEN)
    calls = []

    def die_after_first_batch(label, rows):
        calls.append(label)
        if len(calls) == 1:
            raise RuntimeError("worker killed")

    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        with (
            mock.patch.object(retention, "_batch_committed", die_after_first_batch),
            pytest.raises(RuntimeError),
        ):
            retention.purge_expired(batch_size=2)
        # The first batch (two messages, each table goes by its own time before the
        # conversations) committed before the run died; nothing else changed.
        assert Message.objects.count() == 8
        assert Conversation.objects.count() == 5
        failed = RetentionRun.objects.get()
        assert not failed.succeeded and "worker killed" in failed.error
        assert retention_status()["last_success_at"] is None

        outcome = retention.purge_expired(batch_size=2)

    assert outcome.status == "done"
    assert outcome.deleted["chat.conversation"] == 5
    assert outcome.deleted["chat.message"] == 8
    assert sum(kind.objects.count() for kind in (Conversation, *KINDS)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_run_started_while_another_holds_the_lock_is_skipped(capsys):
    conv = _conversation(WRITTEN)
    holding, release = threading.Event(), threading.Event()

    def hold():
        try:
            with retention.purge_lock() as acquired:
                assert acquired
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
            outcome = retention.purge_expired()
            call_command("purge_expired")
    finally:
        release.set()
        holder.join(30)
    assert outcome.status == "skipped"
    assert "skipped, already running" in capsys.readouterr().out
    assert _rows_of(conv.pk) == 6
    assert not RetentionRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_delete_each_row_once():
    conversations = 40
    for _ in range(conversations):
        _conversation(WRITTEN)
    start = threading.Barrier(2)
    outcomes: list[retention.PurgeOutcome] = []
    errors: list[BaseException] = []

    def run():
        try:
            start.wait(30)
            with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
                outcomes.append(retention.purge_expired(batch_size=3))
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(o.status for o in outcomes) in (["done", "done"], ["done", "skipped"])
    deleted_messages = sum(o.deleted.get("chat.message", 0) for o in outcomes)
    deleted_conversations = sum(o.deleted.get("chat.conversation", 0) for o in outcomes)
    assert (deleted_conversations, deleted_messages) == (conversations, 2 * conversations)
    assert Conversation.objects.count() == 0
    recorded = RetentionRun.objects.filter(succeeded=True)
    assert recorded.count() == sum(o.status == "done" for o in outcomes)
    assert sum(r.deleted.get("chat.message", 0) for r in recorded) == 2 * conversations


@pytest.mark.django_db
def test_retention_status_turns_degraded_without_a_recent_run_or_with_an_old_record():
    now = THREE_MONTHS_LATER + timedelta(hours=2)
    _conversation(WRITTEN)
    with time_machine.travel(now, tick=False):
        status = retention_status()
        assert status["status"] == "degraded"
        assert status["last_success_at"] is None
        assert len(status["problems"]) == 2

        retention.purge_expired()
        status = retention_status()
        assert status["status"] == "ok", status["problems"]
        assert status["oldest_record_at"] is None

        fresh = _conversation(now - timedelta(days=1))
        status = retention_status()
        assert datetime.fromisoformat(status["oldest_record_at"]) == fresh.created_at
        assert status["oldest_record_age_seconds"] == 86400

        # A row slipped past the purge (e.g. restored from a backup) is older than the period.
        Message.objects.create(
            conversation=fresh,
            sender="visitor",
            text="x",
            created_at=retention_cutoff(now) - timedelta(hours=2),
        )
        assert retention_status()["problems"] == ["records older than the retention period"]

    with time_machine.travel(now + timedelta(hours=1, minutes=1), tick=False):
        Message.objects.filter(text="x").delete()
        assert retention_status()["problems"] == ["no successful purge in the last hour"]


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_a_fresh_install_healthy_and_a_stalled_purge_degraded(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["retention"]["status"] == "ok"
    assert body["retention"]["note"] == "no purge due yet"
    started = timezone.now()
    _conversation(started)
    # Beat never ran: an hour after the first record, the stall shows.
    with time_machine.travel(started + timedelta(hours=1, minutes=1), tick=False):
        body = client.get("/healthz").json()
        assert body["retention"]["status"] == "degraded"
        assert "note" not in body["retention"]
        retention.purge_expired()
        body = client.get("/healthz").json()
    assert body["retention"]["status"] == "ok"
    assert body["retention"]["last_success_at"] is not None
    assert "error" not in str(body["retention"])


@pytest.mark.django_db
def test_a_run_inside_a_caller_s_transaction_leaves_its_statement_limits_behind():
    """Each batch limits its statements to 60 ms and checks foreign keys at once, for its own
    transaction; inside a caller's (here the test's) transaction the batches are savepoints,
    and the caller's later statements must not inherit either."""
    conv = _conversation(WRITTEN)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]
    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        outcome = retention.purge_expired()
    assert outcome.status == "done"
    assert outcome.deleted["chat.conversation"] == 1
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before
        # Longer than the batches' 60 ms: cancelled if their limit had stayed.
        cursor.execute("SELECT pg_sleep(0.2)")
    # Foreign keys are checked at commit again: a message may come before its conversation.
    Message.objects.create(conversation_id=conv.pk + 1000, sender="visitor", text="early")
    later = Conversation.objects.create(pk=conv.pk + 1000, token_hash=hash_token("later"))
    assert later.messages.get().text == "early"


@pytest.mark.django_db
def test_directors_see_the_retention_status_in_admin_and_others_do_not(client, dana, charlie):
    from agents.services import language_set

    retention.purge_expired()
    language_set(user=dana, language="en")
    client.force_login(dana)
    listing = client.get("/admin/chat/retentionrun/")
    assert listing.status_code == 200
    assert b"Retention status: ok" in listing.content
    page = client.get("/admin/chat/retentionrun/status/")
    assert page.status_code == 200
    assert b"Last successful purge" in page.content

    client.force_login(charlie)
    assert client.get("/admin/chat/retentionrun/").status_code == 403
    assert client.get("/admin/chat/retentionrun/status/").status_code == 403


@pytest.mark.django_db
def test_the_purge_never_loads_instances_or_sends_delete_signals():
    from django.db.models.signals import post_delete, pre_delete

    _conversation(WRITTEN)
    received = []

    def receiver(sender, **kwargs):
        received.append(sender)

    pre_delete.connect(receiver)
    post_delete.connect(receiver)
    try:
        with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
            outcome = retention.purge_expired()
    finally:
        pre_delete.disconnect(receiver)
        post_delete.disconnect(receiver)
    assert outcome.total == 7
    assert received == []
    # The feedback app folded the chat into its anonymous daily totals before it went.
    assert DailyStat.objects.aggregate(n=Sum("chats"))["n"] == 1


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="several purge workers need PostgreSQL"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_share_the_conversations_and_delete_each_row_once(settings):
    settings.CHAT_PURGE_WORKERS = 2
    conversations = 30
    for _ in range(conversations):
        _conversation(WRITTEN)
    # Each worker's first conversation batch waits here for the other's: the run passes only
    # if two connections delete conversations at the same time.
    both = threading.Barrier(2, timeout=20)
    threads: dict[str, set[str]] = {}

    def committed(label, rows):
        seen = threads.setdefault(label, set())
        me = threading.current_thread().name
        if label == "chat.conversation" and me not in seen:
            seen.add(me)
            both.wait()
        seen.add(me)

    with (
        time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False),
        mock.patch.object(retention, "_batch_committed", committed),
    ):
        outcome = retention.purge_expired(batch_size=2)

    assert outcome.status == "done"
    assert len(threads["chat.conversation"]) == 2
    # The register's tables went side by side too, on the same two worker threads.
    assert set().union(*threads.values()) == threads["chat.conversation"]
    assert outcome.deleted["chat.conversation"] == conversations
    assert outcome.deleted["chat.message"] == 2 * conversations
    for kind in (PageVisit, VisitorConnection, HostContext, Feedback):
        assert outcome.deleted[kind._meta.label_lower] == conversations
    assert sum(kind.objects.count() for kind in (Conversation, *KINDS)) == 0
    # Every chat was counted into the reports once, before its rows went.
    assert DailyStat.objects.aggregate(n=Sum("chats"))["n"] == conversations
    assert RetentionRun.objects.get().deleted == outcome.deleted


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_time_slices_share_a_table_without_gaps_or_overlaps(settings):
    # Messages from the oldest row up to just before the cutoff, several exactly on the
    # boundaries between the spans the workers take: each is deleted once, none is left.
    settings.CHAT_PURGE_WORKERS = 2
    now = THREE_MONTHS_LATER + timedelta(hours=1)
    cutoff = retention_cutoff(now)
    oldest = cutoff - timedelta(days=8)
    slices = retention.SLICES_PER_WORKER * 2
    span = (cutoff - oldest) / slices
    moments = [oldest + span * i for i in range(slices)]
    moments += [m + timedelta(microseconds=1) for m in moments[1:]]
    moments += [m - timedelta(microseconds=1) for m in moments[1:]]
    moments.append(cutoff - timedelta(minutes=1))
    conv = _conversation(oldest, messages=0)
    Conversation.objects.filter(pk=conv.pk).update(last_activity_at=now)  # the chat itself stays
    for i, moment in enumerate(moments):
        Message.objects.create(conversation=conv, sender="visitor", text=f"m{i}", created_at=moment)
    Message.objects.create(conversation=conv, sender="visitor", text="kept", created_at=cutoff)
    with time_machine.travel(now, tick=False):
        assert [s[3] for s in retention._time_slices(Message, "created_at", cutoff, slices)] == [
            None,
            *moments[1:slices],
        ]
        outcome = retention.purge_expired(batch_size=2)
    assert outcome.deleted["chat.message"] == len(moments)
    assert list(Message.objects.values_list("text", flat=True)) == ["kept"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failing_worker_stops_the_run_and_the_next_run_finishes(settings):
    settings.CHAT_PURGE_WORKERS = 2
    for _ in range(12):
        _conversation(WRITTEN)

    def die_on_conversations(label, rows):
        if label == "chat.conversation":
            raise RuntimeError("worker killed")

    with time_machine.travel(THREE_MONTHS_LATER + timedelta(hours=1), tick=False):
        with (
            mock.patch.object(retention, "_batch_committed", die_on_conversations),
            pytest.raises(RuntimeError, match="worker killed"),
        ):
            retention.purge_expired(batch_size=2)
        failed = RetentionRun.objects.get()
        assert not failed.succeeded and "worker killed" in failed.error
        # What committed is recorded: every message went before the conversations started.
        assert failed.deleted["chat.message"] == 24
        assert 1 <= failed.deleted["chat.conversation"] < 12

        outcome = retention.purge_expired(batch_size=2)

    assert outcome.status == "done"
    assert outcome.deleted["chat.conversation"] == 12 - failed.deleted["chat.conversation"]
    assert sum(kind.objects.count() for kind in (Conversation, *KINDS)) == 0


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_purge_keeps_to_its_connection(settings):
    settings.CHAT_PURGE_WORKERS = 3
    assert retention._workers() == 3
    with transaction.atomic():
        # Other connections could not see this transaction's rows, nor wait on its locks.
        assert retention._workers() == 1
    settings.CHAT_PURGE_WORKERS = 1
    assert retention._workers() == 1
