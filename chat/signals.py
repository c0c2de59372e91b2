"""Audits every change made through Django admin (accounts, groups, canned replies, opening
hours, controller details): the audit log records who changed which object, never its content."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import AuditEvent
from .services import audit_record

_CHANGES = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


@receiver(post_save, sender=LogEntry)
def _admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    # Content types are cached per process: no query for a type seen before.
    type_id = instance.content_type_id
    model = ContentType.objects.get_for_id(type_id).model_class() if type_id else None
    label = model._meta.label_lower if model else "unknown"
    audit_record(
        action=AuditEvent.Action.SETTINGS_CHANGED,
        actor=instance.user,
        object_ref=f"{label}:{instance.object_id}"[:100],
        detail={"change": _CHANGES.get(instance.action_flag, "other"), "via": "admin"},
    )
