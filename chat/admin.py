"""Admin for the chat register. History is read-only; message text is never listed."""

from __future__ import annotations

from django.contrib import admin

from .models import (
    AuditEvent,
    ControllerDetails,
    Conversation,
    OpeningHours,
    RetentionRun,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History that must not be edited: viewable by those permitted, never changed here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    # Only metadata: transcripts are read in the console, where each opening is audited.
    list_display = ("reference", "status", "assigned_agent", "created_at", "closed_at")
    list_filter = ("status",)
    date_hierarchy = "created_at"
    fields = (
        "reference",
        "status",
        "assigned_agent",
        "created_at",
        "last_activity_at",
        "closed_at",
    )
    readonly_fields = fields


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_name", "action", "object_ref", "actor_ip")
    list_filter = ("action",)
    search_fields = ("actor_name", "object_ref")
    date_hierarchy = "created_at"


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "finished_at", "succeeded", "dry_run", "deleted")
    list_filter = ("succeeded", "dry_run")


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ("weekday", "opens", "closes")


@admin.register(ControllerDetails)
class ControllerDetailsAdmin(admin.ModelAdmin):
    list_display = ("controller_name", "email", "updated_at")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not ControllerDetails.objects.exists()
