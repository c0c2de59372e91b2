"""Celery tasks of the chat. Thin: each calls one function that does the work."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import contact, retention


@shared_task(
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
    outcome = retention.purge_expired()
    return {"status": outcome.status, "deleted": outcome.deleted}


@shared_task(name="chat.tasks.contact_notify_due", ignore_result=True)
def contact_notify_due() -> int:
    """Tells visitors who left a message with an e-mail address that an answer is waiting."""
    return contact.contact_notify_due()
