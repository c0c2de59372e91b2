"""Report numbers on a known fixture, and that they survive the retention purge unchanged."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from chat import hooks
from chat.models import Conversation, Message
from feedback.aggregates import BUCKET_EDGES, Agg, hist_percentile, metrics
from feedback.models import DailyStat, Feedback, FoldedDay
from feedback.selectors import report
from feedback.services import stats_fold_day
from retention.purge import purge_expired

from .factories import conversation

HEL = ZoneInfo("Europe/Helsinki")
START, END = date(2026, 3, 1), date(2026, 3, 31)

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=HEL)


@pytest.fixture
def known_chats(alice, bob):
    """Six chats on 2 and 3 March 2026 (Helsinki time) with round durations."""
    conversation(
        created_at=at(2, 10),
        agent=alice,
        wait=20,
        first_response=30,
        length=300,
        feedback=(True, True),
        comment="Great, thanks",
    )
    conversation(
        created_at=at(2, 11),
        agent=alice,
        wait=50,
        first_response=55,
        length=600,
        feedback=(False, True),
    )
    conversation(
        created_at=at(2, 12),
        agent=bob,
        wait=100,
        first_response=130,
        length=900,
        feedback=(True, None),
    )
    conversation(created_at=at(2, 13), length=120)  # nobody took it; the visitor gave up
    # Begins just before midnight and ends on the next day: it belongs to the day it began.
    conversation(
        created_at=at(3, 23, 50),
        agent=bob,
        wait=8,
        first_response=12,
        length=1500,
        feedback=(True, False),
        comment="Bit slow",
    )
    conversation(created_at=at(3, 9), agent=alice, wait=240, first_response=250)  # left open


def numbers():
    return {p: report(start=START, end=END, period=p) for p in ("day", "week", "month")}


def test_percentiles_are_bucket_upper_edges():
    agg = Agg()
    for seconds in (1, 7, 7, 59, 61, 2950):
        agg.add_chat(
            created_at=at(1, 0),
            claimed_at=at(1, 0) + timedelta(seconds=seconds),
            first_response_at=None,
            closed_at=None,
            feedback=None,
        )
    assert hist_percentile(agg.wait_hist, 0.5) == 10
    assert hist_percentile(agg.wait_hist, 0.9) == 3000
    assert hist_percentile([], 0.5) is None
    assert tuple(sorted(set(BUCKET_EDGES))) == BUCKET_EDGES


def test_the_report_counts_the_known_fixture(known_chats, alice, bob):
    with time_machine.travel(datetime(2026, 3, 4, 12, tzinfo=HEL), tick=False):
        result = report(start=START, end=END, period="day")
    total = result["total"]
    assert total == {
        "chats": 6,
        "taken": 5,
        "closed": 5,
        "wait_median": 50,
        "wait_p90": 240,
        "first_response_median": 55,
        "first_response_p90": 270,  # 250 s falls in the 240-270 s step
        "duration_median": 600,
        "duration_p90": 1500,
        "feedback_answers": 4,
        "service_answers": 4,
        "service_yes_share": 0.75,
        "channel_answers": 3,
        "channel_yes_share": 0.6667,
        "response_rate": 0.8,
    }
    days = {row["label"]: row for row in result["periods"]}
    assert len(days) == 31
    assert (days["2026-03-02"]["chats"], days["2026-03-03"]["chats"]) == (4, 2)
    assert days["2026-03-04"]["chats"] == 0 and days["2026-03-04"]["wait_median"] is None
    agents = {row["agent"]: row for row in result["agents"]}
    assert list(agents) == ["Alice Agent", "Bob Builder", "-"]
    assert agents["Alice Agent"]["chats"] == 3
    assert (agents["Alice Agent"]["wait_median"], agents["Alice Agent"]["wait_p90"]) == (50, 240)
    assert agents["Alice Agent"]["service_yes_share"] == 0.5
    assert agents["Bob Builder"]["response_rate"] == 1.0
    assert (agents["-"]["chats"], agents["-"]["taken"]) == (1, 0)
    weeks = report(start=START, end=END, period="week")["periods"]
    assert [w["label"] for w in weeks][:2] == ["2026-W09", "2026-W10"]
    assert weeks[1]["chats"] == 6
    months = report(start=START, end=END, period="month")["periods"]
    assert [(m["label"], m["chats"]) for m in months] == [("2026-03", 6)]


def test_the_report_is_identical_after_the_purge_deletes_the_chats(known_chats, client, dana):
    def csv_now():
        client.force_login(dana)
        url = f"/reports/report.csv?period=day&from={START}&to={END}"
        response = client.get(url)
        assert response.status_code == 200
        return response.content

    with time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=HEL), tick=False):
        before, csv_before = numbers(), csv_now()
        assert not FoldedDay.objects.exists()

    # The cutoff falls on 3 March at noon: that day's chats are deleted only in part.
    with time_machine.travel(datetime(2026, 6, 3, 13, tzinfo=HEL), tick=False):
        purge_expired()
        assert Conversation.objects.count() == 1
        assert Feedback.objects.count() == 1
        assert numbers() == before
        assert csv_now() == csv_before

    with time_machine.travel(datetime(2026, 7, 1, 12, tzinfo=HEL), tick=False):
        purge_expired()
        purge_expired()
        assert not Conversation.objects.exists()
        assert not Feedback.objects.exists()
        assert not Message.objects.exists()
        assert numbers() == before
        assert csv_now() == csv_before


def test_folding_twice_counts_nothing_twice(known_chats):
    with time_machine.travel(datetime(2026, 3, 4, 12, tzinfo=HEL), tick=False):
        before = numbers()
        ids = list(Conversation.objects.values_list("pk", flat=True))
        # The purge calls the hook per batch; a run killed midway calls it again.
        hooks.call("retention_before_delete", conversation_ids=ids[:2])
        hooks.call("retention_before_delete", conversation_ids=ids)
        assert stats_fold_day(day=date(2026, 3, 2)) is False
        rows = DailyStat.objects.count()
        hooks.call("retention_before_delete", conversation_ids=ids)
        hooks.call("retention_models")
        assert DailyStat.objects.count() == rows == 5  # 2 March: alice, bob, -; 3 March: both
        assert numbers() == before


def test_a_day_is_folded_only_once_it_can_no_longer_change(known_chats):
    with time_machine.travel(datetime(2026, 3, 5, 1, tzinfo=HEL), tick=False):
        hooks.call("retention_models")
    assert list(FoldedDay.objects.values_list("day", flat=True)) == [date(2026, 3, 2)]


def test_the_aggregates_hold_nothing_about_a_visitor(known_chats):
    with time_machine.travel(datetime(2026, 6, 3, 13, tzinfo=HEL), tick=False):
        purge_expired()
    fields = {f.name for f in DailyStat._meta.get_fields()}
    assert fields == {
        "id",
        "day",
        "agent",
        "agent_name",
        "chats",
        "taken",
        "closed",
        "wait_hist",
        "first_response_hist",
        "duration_hist",
        "feedback_answers",
        "service_yes",
        "service_no",
        "channel_yes",
        "channel_no",
    }
    stored = metrics(Agg.from_row(DailyStat.objects.filter(agent_name="").get()))
    assert stored["chats"] == 1 and stored["taken"] == 0
