"""The retention period: calendar months back from now, from one setting."""

from __future__ import annotations

import calendar
from datetime import datetime

from django.conf import settings
from django.utils import timezone


def months_before(moment: datetime, months: int) -> datetime:
    """The same wall-clock time `months` calendar months earlier (clamped to month end)."""
    local = timezone.localtime(moment)
    month_index = local.year * 12 + (local.month - 1) - months
    year, month = divmod(month_index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Records older than this are past the retention period and must be deleted."""
    return months_before(now or timezone.now(), settings.CHAT_RETENTION_MONTHS)


def audit_cutoff(now: datetime | None = None) -> datetime:
    return months_before(now or timezone.now(), settings.CHAT_AUDIT_RETENTION_MONTHS)


def token_max_age_days() -> int:
    """How long a browser may keep the visitor's token: never past the retention period (the
    shortest run of that many months, 28 days each)."""
    return settings.CHAT_RETENTION_MONTHS * 28
