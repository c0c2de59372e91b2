from __future__ import annotations

from celery import shared_task


@shared_task(name="feedback.tasks.stats_fold_due")
def stats_fold_due() -> int:
    """Folds finished days into the anonymous aggregates (the purge also does this first)."""
    from .services import stats_fold_due as fold

    return fold()
