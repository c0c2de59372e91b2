"""Admin for the purge runs, with the retention status on top and on a page of its own."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext

from chat.admin import ReadOnlyAdmin
from chat.models import RetentionRun

from .status import retention_status


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    """Every purge run, and on top of the list the retention status that /healthz reports."""

    list_display = ("started_at", "finished_at", "duration", "succeeded", "dry_run", "rows")
    list_filter = ("succeeded", "dry_run")
    date_hierarchy = "started_at"
    fields = ("started_at", "finished_at", "cutoff", "dry_run", "succeeded", "deleted", "error")
    readonly_fields = fields

    @admin.display(description="duration (s)")
    def duration(self, obj: RetentionRun) -> str:
        seconds = obj.duration_seconds
        return "–" if seconds is None else f"{seconds:.1f}"

    @admin.display(description="rows deleted")
    def rows(self, obj: RetentionRun) -> int:
        return sum(v for v in (obj.deleted or {}).values() if isinstance(v, int))

    def get_urls(self):
        view = self.admin_site.admin_view(self.status_view)
        return [path("status/", view, name="chat_retention_status"), *super().get_urls()]

    def status_view(self, request: HttpRequest) -> HttpResponse:
        """The retention status on its own page: last successful run, oldest record, problems."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Retention status"),
            "opts": self.model._meta,
            "retention": retention_status(),
        }
        return TemplateResponse(request, "admin/chat/retention_status.html", context)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "retention": retention_status()}
        return super().changelist_view(request, extra_context=extra_context)
