"""The retention status: the last successful purge and the oldest stored record.

`/healthz` asks for it through the `health` hook (chat knows no retention); the admin shows it on
top of the purge runs and on its own page.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Min, Model
from django.utils import timezone

from chat.models import Conversation, RetentionRun
from chat.retention_period import retention_cutoff

from .purge import register_models


def retention_status() -> dict[str, object]:
    """Last successful purge and the oldest stored record; "degraded" when either is late.

    Degraded means: no successful run in the last hour, or any register row older than the
    retention period plus one hour (the purge runs every few minutes, so an hour is a stall). A
    fresh install (no run yet, nothing older than an hour) is healthy: "no purge due yet".
    Each "oldest" is one index lookup per table. `/healthz` is public, so this says when and
    whether, never what: error texts and counts stay in the admin.
    """
    now = timezone.now()
    cutoff = retention_cutoff(now)
    runs = RetentionRun.objects.filter(dry_run=False, finished_at__isnull=False)
    last = runs.filter(succeeded=True).order_by("-finished_at").first()
    latest = runs.order_by("-finished_at").first()
    # A conversation lives as long as its last activity; every other row by its own time.
    tables: list[tuple[type[Model], str]] = [
        (Conversation, "last_activity_at"),
        *register_models(),
    ]
    oldest_by_kind: dict[str, str] = {}
    oldest_at = None
    for model, time_field in tables:
        value = model._default_manager.aggregate(oldest=Min(time_field))["oldest"]
        if value is None:
            continue
        oldest_by_kind[model._meta.label_lower] = value.isoformat()
        oldest_at = value if oldest_at is None else min(oldest_at, value)
    problems = []
    # A fresh install has nothing to purge yet: its first purge runs when beat starts, and
    # until then (at most an hour, by its oldest record) it is healthy, not "degraded".
    fresh = latest is None and (oldest_at is None or now - oldest_at < timedelta(hours=1))
    last_at = last.finished_at if last else None
    if not fresh and (last_at is None or now - last_at > timedelta(hours=1)):
        problems.append("no successful purge in the last hour")
    if oldest_at is not None and oldest_at < cutoff - timedelta(hours=1):
        problems.append("records older than the retention period")
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        **({"note": "no purge due yet"} if fresh else {}),
        "retention_months": settings.CHAT_RETENTION_MONTHS,
        "cutoff": cutoff.isoformat(),
        "last_success_at": last_at.isoformat() if last_at else None,
        "last_run_at": latest.finished_at.isoformat() if latest and latest.finished_at else None,
        "last_run_succeeded": latest.succeeded if latest else None,
        "oldest_record_at": oldest_at.isoformat() if oldest_at else None,
        "oldest_record_age_seconds": int((now - oldest_at).total_seconds()) if oldest_at else None,
        "oldest_by_kind": oldest_by_kind,
    }
