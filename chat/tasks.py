from celery import shared_task

from . import retention


@shared_task(name="chat.tasks.purge_expired")
def purge_expired() -> dict[str, int]:
    """Runs the retention purge (scheduled by Celery beat)."""
    return retention.purge_expired().deleted
