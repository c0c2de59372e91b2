"""Access review and audit log pages for the service director and the responsible person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from chat.csvfile import csv_response
from chat.models import AuditEvent
from realtime.net import request_client_ip

from . import access
from .pages import may_open_admin, may_read_audit_log, may_review_access
from .roles import CHAT_ROLES, role_label
from .signin import sign_in_methods
from .types import StaffRequest


def _guarded(may_open: Callable[[HttpRequest], bool]) -> Callable[[View], View]:
    """Login first, then the page's own test (agents.pages), the one the navigation asks."""

    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not may_open(request):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


_review_required = _guarded(may_review_access)

View = Callable[..., HttpResponse]


@_review_required
def review(request: HttpRequest) -> HttpResponse:
    rows = access.access_review_rows()
    others = (
        get_user_model().objects.filter(is_active=True).exclude(pk__in=[r["user"].pk for r in rows])
    )
    return render(
        request,
        "agents/access_review.html",
        {
            "rows": rows,
            "roles": [(role, role_label(role)) for role in CHAT_ROLES],
            "candidates": others.order_by("username"),
            "dormant_days": settings.CHAT_DORMANT_ACCOUNT_DAYS,
            "may_read_audit_log": may_read_audit_log(request),
            "may_open_admin": may_open_admin(request),
        },
    )


@_review_required
def review_csv(request: HttpRequest) -> HttpResponse:
    rows = []
    rows.append(
        [
            "username",
            "name",
            "roles",
            "reads_all_history",
            "granted_at",
            "approved_by",
            "effected_by",
            "guidance_acknowledged_at",
            "last_login",
            "last_console_activity",
            "sign_in",
            "dormant",
        ]
    )
    for row in access.access_review_rows():
        user = row["user"]
        rows.append(
            [
                user.get_username(),
                user.get_full_name(),
                ";".join(row["roles"]),
                "yes" if row["reads_all_history"] else "no",
                row["granted_at"] and row["granted_at"].isoformat(),
                row["approved_by"],
                row["effected_by"],
                row["guidance_at"] and row["guidance_at"].isoformat(),
                row["last_login"] and row["last_login"].isoformat(),
                row["last_activity"] and row["last_activity"].isoformat(),
                ";".join(sign_in_methods(user)),
                "yes" if row["dormant"] else "no",
            ]
        )
    return csv_response("access-review.csv", rows)


@require_POST
@_review_required
def revoke(request: StaffRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    if user.pk == request.user.pk:
        messages.error(request, _("You cannot revoke your own access here."))
        return redirect("access:review")
    removed = access.access_revoke(
        user=user,
        actor=request.user,
        approved_by=request.POST.get("approved_by", "").strip(),
        actor_ip=request_client_ip(request),
    )
    messages.success(
        request,
        ngettext(
            "Removed %(count)d role from %(name)s; they were signed out.",
            "Removed %(count)d roles from %(name)s; they were signed out.",
            removed,
        )
        % {"count": removed, "name": user.get_username()},
    )
    return redirect("access:review")


@require_POST
@_review_required
def grant(request: StaffRequest) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=request.POST.get("user_id") or 0, is_active=True)
    role = request.POST.get("role", "")
    approved_by = request.POST.get("approved_by", "").strip()
    if role not in CHAT_ROLES or not approved_by:
        messages.error(request, _("Choose a role and name the person who approved it."))
        return redirect("access:review")
    access.role_grant(
        user=user,
        role=role,
        actor=request.user,
        approved_by=approved_by,
        actor_ip=request_client_ip(request),
    )
    messages.success(
        request,
        _("%(name)s now has the role %(role)s.")
        % {"name": user.get_username(), "role": role_label(role)},
    )
    return redirect("access:review")


def _day(value: str, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


@_guarded(may_read_audit_log)
def audit_log(request: HttpRequest) -> HttpResponse:
    """The append-only audit log, filtered by actor, action and date."""
    events = AuditEvent.objects.all()
    actor = request.GET.get("actor", "").strip()
    action = request.GET.get("action", "")
    since, until = _day(request.GET.get("since", "")), _day(request.GET.get("until", ""), True)
    if actor:
        events = events.filter(actor_name__iexact=actor)
    if action in AuditEvent.Action.values:
        events = events.filter(action=action)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lte=until)
    page = Paginator(events.order_by("-id"), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "agents/audit_log.html",
        {"page": page, "actions": AuditEvent.Action.choices, "filters": request.GET},
    )
