"""Admin for the chat register. History is read-only; message text is never listed."""

from __future__ import annotations

from django.contrib import admin

from .bidi import bdi
from .models import (
    AuditEvent,
    ControllerDetails,
    Conversation,
    Greeting,
    OpeningHours,
    Tag,
    Topic,
    WrapUpReason,
)
from .services import display_name


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
    list_display = ("reference", "status", "agent", "created_at", "closed_at")
    list_select_related = ("assigned_agent",)
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

    @admin.display(description="assigned agent", ordering="assigned_agent")
    def agent(self, obj: Conversation):
        return bdi(display_name(obj.assigned_agent)) if obj.assigned_agent else "-"


class WrapUpListAdmin(admin.ModelAdmin):
    """The director's lists for the wrap-up of a chat, named in Finnish, Swedish and English.

    An item that chats carry is retired (untick "active") rather than deleted, so that those
    chats and the reports keep it.
    """

    list_display = ("name_fi", "name_sv", "name_en", "active", "position")
    list_editable = ("active", "position")
    list_filter = ("active",)
    search_fields = ("name_fi", "name_sv", "name_en")

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.conversations.exists():
            return False
        return super().has_delete_permission(request, obj)


admin.site.register(Tag, WrapUpListAdmin)
admin.site.register(WrapUpReason, WrapUpListAdmin)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "object_ref", "actor_ip")
    list_filter = ("action",)
    search_fields = ("actor_name", "object_ref")
    date_hierarchy = "created_at"

    @admin.display(description="actor name", ordering="actor_name")
    def actor_label(self, obj: AuditEvent):
        return bdi(obj.actor_name)


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ("weekday", "opens", "closes", "topic")
    list_filter = ("topic",)


class TopicHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_fi", "name_sv", "name_en", "is_default", "pickable", "position")
    list_editable = ("pickable", "position")
    filter_horizontal = ("agents",)
    inlines = [TopicHoursInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Chats keep their topic (PROTECT); the default topic is where unknown names go.
        if obj is not None and (obj.is_default or obj.conversations.exists()):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Greeting)
class GreetingAdmin(admin.ModelAdmin):
    list_display = ("language", "text", "show_agent_names")


@admin.register(ControllerDetails)
class ControllerDetailsAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "updated_at")

    @admin.display(description="controller name", ordering="controller_name")
    def name(self, obj: ControllerDetails):
        return bdi(obj)

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not ControllerDetails.objects.exists()
