from django.contrib import admin

from chat import identifiers

from .models import DailyStat, Feedback, FoldedDay


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only by the visitor and the aggregation; never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "conversation", "service_satisfied", "channel_satisfied")
    list_filter = ("service_satisfied", "channel_satisfied")
    # The comment is plain text; the admin escapes it like any other field.
    fields = (
        "conversation",
        "service_satisfied",
        "channel_satisfied",
        "comment_text",
        "created_at",
    )
    readonly_fields = ("comment_text",)

    @admin.display(description="comment")
    def comment_text(self, obj: Feedback) -> str:
        # A number the guard hid reads as its placeholder, e.g. "[personal identity code]".
        return identifiers.render(obj.comment)


@admin.register(DailyStat)
class DailyStatAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "agent_name",
        "chats",
        "taken",
        "closed",
        "feedback_answers",
        "service_yes",
        "channel_yes",
    )
    list_filter = ("day",)


@admin.register(FoldedDay)
class FoldedDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "folded_at")
