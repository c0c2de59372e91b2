from celery import shared_task

from . import dispatch, services


@shared_task(name="agents.tasks.availability_sweep", ignore_result=True)
def availability_sweep() -> bool:
    """Announces availability changes caused by stale presence (scheduled by beat)."""
    return services.availability_sweep()


@shared_task(name="agents.tasks.offer_sweep", ignore_result=True)
def offer_sweep() -> dict[str, int]:
    """Passes on timed-out offers and routes the queue (scheduled by beat)."""
    return dispatch.offer_sweep()
