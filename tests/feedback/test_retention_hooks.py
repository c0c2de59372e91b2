"""The feedback app's retention hook folds the days of the conversations the purge deletes."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from chat.models import Conversation, hash_token, new_visitor_token
from feedback.hooks import retention_before_delete
from feedback.models import DailyStat, Feedback, FoldedDay

HELSINKI = ZoneInfo("Europe/Helsinki")


def _closed_chat(at: datetime, *, satisfied: bool) -> Conversation:
    conv = Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        status=Conversation.Status.CLOSED,
        created_at=at,
        last_activity_at=at,
        closed_at=at,
    )
    Feedback.objects.create(conversation=conv, service_satisfied=satisfied, created_at=at)
    return conv


@pytest.mark.django_db
def test_it_folds_each_unfolded_local_day_of_the_batch_once():
    # 00:30 in Helsinki is still the previous day in UTC: the day is the local one.
    late = _closed_chat(datetime(2026, 3, 3, 0, 30, tzinfo=HELSINKI), satisfied=True)
    early = _closed_chat(datetime(2026, 3, 2, 9, 0, tzinfo=HELSINKI), satisfied=False)
    FoldedDay.objects.create(day=date(2026, 3, 2))

    retention_before_delete([late.pk, early.pk])
    retention_before_delete([late.pk, early.pk])

    assert set(FoldedDay.objects.values_list("day", flat=True)) == {
        date(2026, 3, 2),
        date(2026, 3, 3),
    }
    folded = DailyStat.objects.filter(day=date(2026, 3, 3))
    assert folded.aggregate(n=Sum("chats"))["n"] == 1
    assert folded.aggregate(n=Sum("service_yes"))["n"] == 1
    # 2 March was already folded: nothing of it is counted again.
    assert not DailyStat.objects.filter(day=date(2026, 3, 2)).exists()
