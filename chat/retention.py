"""The retention purge: deletes every record of the register older than the retention period."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from . import hooks
from .models import Conversation, HostContext, Message, PageVisit, RetentionRun, VisitorConnection
from .retention_period import retention_cutoff


def purge_expired(*, dry_run: bool = False, now=None) -> RetentionRun:
    """Deletes expired rows table by table and records the run."""
    now = now or timezone.now()
    cutoff = retention_cutoff(now)
    run = RetentionRun.objects.create(started_at=now, cutoff=cutoff, dry_run=dry_run)
    deleted: dict[str, int] = {}
    steps = [
        (Message, "created_at"),
        (PageVisit, "created_at"),
        (VisitorConnection, "created_at"),
        (HostContext, "created_at"),
    ]
    for extra in hooks.call("retention_models"):
        steps.extend(extra)
    steps.append((Conversation, "last_activity_at"))
    with transaction.atomic():
        for model, field in steps:
            qs = model.objects.filter(**{f"{field}__lt": cutoff})
            label = model._meta.label_lower
            deleted[label] = qs.count() if dry_run else qs.delete()[1].get(model._meta.label, 0)
    run.deleted = deleted
    run.succeeded = True
    run.finished_at = timezone.now()
    run.save(update_fields=["deleted", "succeeded", "finished_at"])
    return run
