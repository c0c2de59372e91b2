"""Records about staff past the audit log's period: Django admin's log is purged, and per-agent
daily statistics are folded into the day's totals, without the agent, by the retention purge."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

from feedback.aggregates import Agg, metrics
from feedback.models import DailyStat
from retention import purge as retention

pytestmark = pytest.mark.django_db

HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = datetime(2027, 6, 15, 12, 0, tzinfo=HELSINKI)
OLD_DAY = date(2026, 5, 1)  # more than 12 months before NOW
RECENT_DAY = date(2026, 8, 1)  # within 12 months


def _stat(day: date, agent=None, name: str = "", *, chats: int, wait: list[int]) -> DailyStat:
    return DailyStat.objects.create(
        day=day,
        agent=agent,
        agent_name=name,
        chats=chats,
        taken=sum(wait),
        wait_hist=wait,
        service_yes=chats,
    )


def _report(day: date) -> dict:
    total = Agg()
    for row in DailyStat.objects.filter(day=day):
        total.merge(Agg.from_row(row))
    return metrics(total)


def _purge():
    with time_machine.travel(NOW, tick=False):
        return retention.purge_expired()


def test_old_per_agent_statistics_lose_the_agents_name_but_not_the_numbers(alice, bob, settings):
    settings.CHAT_AUDIT_RETENTION_MONTHS = 12
    _stat(OLD_DAY, alice, "Alice Agent", chats=3, wait=[1, 2])
    _stat(OLD_DAY, bob, "Bob Builder", chats=2, wait=[0, 1, 1])
    _stat(OLD_DAY, None, "", chats=1, wait=[1])
    _stat(RECENT_DAY, alice, "Alice Agent", chats=4, wait=[4])
    before_old, before_recent = _report(OLD_DAY), _report(RECENT_DAY)

    outcome = _purge()

    old = list(DailyStat.objects.filter(day=OLD_DAY))
    assert [(row.agent_id, row.agent_name) for row in old] == [(None, "")]
    assert (old[0].chats, old[0].wait_hist) == (6, [2, 3, 1])
    assert _report(OLD_DAY) == before_old
    # Within the period the agent is still named.
    recent = DailyStat.objects.get(day=RECENT_DAY)
    assert (recent.agent_id, recent.agent_name) == (alice.pk, "Alice Agent")
    assert _report(RECENT_DAY) == before_recent
    assert outcome.deleted["feedback.dailystat.agent"] == 2
    assert outcome.run.deleted["feedback.dailystat.agent"] == 2


def test_folding_twice_changes_nothing(alice, settings):
    settings.CHAT_AUDIT_RETENTION_MONTHS = 12
    _stat(OLD_DAY, alice, "Alice Agent", chats=3, wait=[1])
    _stat(OLD_DAY - timedelta(days=1), alice, "Alice Agent", chats=1, wait=[1])
    _purge()
    rows = list(DailyStat.objects.order_by("day").values_list("day", "chats", "agent_name"))
    outcome = _purge()
    assert "feedback.dailystat.agent" not in outcome.deleted
    assert list(DailyStat.objects.order_by("day").values_list("day", "chats", "agent_name")) == rows


def test_the_period_follows_the_setting(alice, settings):
    settings.CHAT_AUDIT_RETENTION_MONTHS = 24
    _stat(OLD_DAY, alice, "Alice Agent", chats=3, wait=[1])
    dry = None
    with time_machine.travel(NOW, tick=False):
        dry = retention.purge_expired(dry_run=True)
    assert "feedback.dailystat.agent" not in dry.deleted
    _purge()
    assert DailyStat.objects.get(day=OLD_DAY).agent_name == "Alice Agent"
    settings.CHAT_AUDIT_RETENTION_MONTHS = 12
    with time_machine.travel(NOW, tick=False):
        dry = retention.purge_expired(dry_run=True)
    assert dry.deleted["feedback.dailystat.agent"] == 1
    assert DailyStat.objects.get(day=OLD_DAY).agent_name == "Alice Agent"


def test_django_admins_log_is_purged_with_the_audit_logs_period(dana, settings):
    settings.CHAT_AUDIT_RETENTION_MONTHS = 12
    kind = ContentType.objects.get_for_model(DailyStat)

    def entry(at: datetime) -> LogEntry:
        return LogEntry.objects.create(
            user=dana,
            content_type=kind,
            object_id="1",
            object_repr="a change",
            action_flag=CHANGE,
            action_time=at,
        )

    old = entry(NOW - timedelta(days=400))
    recent = entry(NOW - timedelta(days=300))
    outcome = _purge()
    assert list(LogEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    assert outcome.deleted["admin.logentry"] == 1
    assert not LogEntry.objects.filter(pk=old.pk).exists()
    assert "admin.logentry" not in _purge().deleted
