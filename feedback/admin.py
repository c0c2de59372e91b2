from django.contrib import admin
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat import identifiers

from . import services
from .models import AccessibilityFeedback, DailyStat, Feedback, FoldedDay


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


@admin.register(AccessibilityFeedback)
class AccessibilityFeedbackAdmin(admin.ModelAdmin):
    """The service director's list of accessibility feedback: answer each within 14 days (by
    e-mail, when the sender gave an address), then mark it answered. What the sender wrote is
    shown, never edited; an item is deleted on the sender's request or by the purge."""

    list_display = ("received_at", "due", "state", "language", "excerpt", "reply_email")
    list_filter = (("answered_at", admin.EmptyFieldListFilter), "language")
    search_fields = ("message", "reply_email")
    date_hierarchy = "received_at"
    fields = (
        "received_at",
        "due",
        "language",
        "message_text",
        "reply_link",
        "answered_at",
        "answered_by",
    )
    readonly_fields = fields
    actions = ("mark_answered", "mark_unanswered")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=gettext_lazy("answer due"), ordering="received_at")
    def due(self, obj: AccessibilityFeedback) -> str:
        due = timezone.localtime(obj.due_at)
        when = formats.date_format(due, "SHORT_DATE_FORMAT")
        if obj.answered_at is None and due < timezone.now():
            return format_html("<strong>{} ({})</strong>", when, _("overdue"))
        return when

    @admin.display(description=gettext_lazy("state"), ordering="answered_at")
    def state(self, obj: AccessibilityFeedback) -> str:
        return _("answered") if obj.answered_at else _("unanswered")

    @admin.display(description=gettext_lazy("message"))
    def excerpt(self, obj: AccessibilityFeedback) -> str:
        text = identifiers.render(obj.message)
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description=gettext_lazy("message"))
    def message_text(self, obj: AccessibilityFeedback) -> str:
        return identifiers.render(obj.message)

    @admin.display(description=gettext_lazy("reply to"))
    def reply_link(self, obj: AccessibilityFeedback) -> str:
        if not obj.reply_email:
            return _("(no address given)")
        return format_html('<a href="mailto:{}">{}</a>', obj.reply_email, obj.reply_email)

    @admin.action(description=gettext_lazy("Mark as answered"), permissions=["change"])
    def mark_answered(self, request, queryset) -> None:
        for item in queryset:
            services.accessibility_feedback_mark(feedback=item, answered=True, by=request.user)

    @admin.action(description=gettext_lazy("Mark as unanswered"), permissions=["change"])
    def mark_unanswered(self, request, queryset) -> None:
        for item in queryset:
            services.accessibility_feedback_mark(feedback=item, answered=False, by=None)
