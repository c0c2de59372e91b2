from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chat.bidi import bdi

from .models import AccessGrant, AgentProfile, CannedReply


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "language", "name", "updated_at")
    list_filter = ("language",)
    search_fields = ("shortcut", "title", "text")

    @admin.display(description="title", ordering="title")
    def name(self, obj: CannedReply) -> str:
        return bdi(obj.title)


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "presence",
        "capacity",
        "guidance_acknowledged_at",
        "last_console_activity_at",
    )
    list_editable = ("capacity",)
    # The director sets the capacity; the rest is the agent's own doing.
    readonly_fields = (
        "user",
        "language",
        "presence",
        "chosen_presence",
        "last_chat_at",
        "guidance_version",
        "presence_seen_at",
        "guidance_acknowledged_at",
        "last_console_activity_at",
    )


@admin.register(AccessGrant)
class AccessGrantAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "group", "change", "approver", "effected_by")
    list_filter = ("change", "group")
    list_select_related = ("user", "group", "effected_by")

    # Names typed by people are isolated, so that none can reorder the rest of the row.
    @admin.display(description="user", ordering="user")
    def account(self, obj: AccessGrant) -> str:
        return bdi(obj.user)

    @admin.display(description="approved by", ordering="approved_by")
    def approver(self, obj: AccessGrant) -> str:
        return bdi(obj.approved_by)

    def has_change_permission(self, request: HttpRequest, obj: AccessGrant | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccessGrant | None = None) -> bool:
        return False
