"""The purge as a Celery task. Thin: it calls the function that does the work."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import purge


@shared_task(
    # The name is what beat sends and workers of another release must still understand: it
    # stays as it was when the purge lived in the chat app.
    name="chat.tasks.purge_expired",
    # Idempotent, so a run lost with its worker is simply run again by another.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # The soft limit ends a run between batches' commits; the next run continues from there.
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def purge_expired() -> dict[str, object]:
    """Runs the retention purge (scheduled by Celery beat every CHAT_PURGE_INTERVAL_SECONDS)."""
    outcome = purge.purge_expired()
    return {"status": outcome.status, "deleted": outcome.deleted}
