from celery import shared_task

from . import services


@shared_task(name="agents.tasks.availability_sweep", ignore_result=True)
def availability_sweep() -> bool:
    """Announces availability changes caused by stale presence (scheduled by beat)."""
    return services.availability_sweep()
