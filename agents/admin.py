from django.contrib import admin

from .models import AccessGrant, AgentProfile, CannedReply


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "language", "title", "updated_at")
    list_filter = ("language",)
    search_fields = ("shortcut", "title", "text")


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "presence", "guidance_acknowledged_at", "last_console_activity_at")
    readonly_fields = (
        "presence",
        "presence_seen_at",
        "guidance_acknowledged_at",
        "last_console_activity_at",
    )


@admin.register(AccessGrant)
class AccessGrantAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "group", "change", "approved_by", "effected_by")
    list_filter = ("change", "group")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
