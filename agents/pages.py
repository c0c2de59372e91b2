"""Who may open each of the agents app's staff pages: the guards of the views call these very
functions, and `register` puts them into the staff navigation (chat.staff_pages)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from chat.staff_pages import StaffPage, staff_page_register

from . import selectors
from .roles import VIEW_FLOOR


def may_use_console(request: HttpRequest) -> bool:
    """The console, its guidance and the staff member's own sign-in page."""
    user = request.user
    return user.is_authenticated and user.has_perm("agents.use_console")


def may_read_history(request: HttpRequest) -> bool:
    """The history and its transcripts: `selectors.history_scope` decides (need to know)."""
    profile = getattr(request, "agent_profile", None)
    if profile is None:  # not read yet (or no profile: then history_scope reads None again)
        return selectors.history_scope(request.user) is not None
    return selectors.history_scope(request.user, profile) is not None


def may_view_floor(request: HttpRequest) -> bool:
    """The floor view and following a live chat: team leads and the service director."""
    user = request.user
    return (
        user.is_authenticated and user.has_perm("agents.use_console") and user.has_perm(VIEW_FLOOR)
    )


def may_review_access(request: HttpRequest) -> bool:
    """The access review, granting and revoking roles, resetting a lost second factor."""
    return request.user.is_authenticated and request.user.has_perm("agents.review_access")


def may_read_audit_log(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.user.has_perm("chat.view_auditevent")


def may_open_admin(request: HttpRequest) -> bool:
    """Django's administration decides itself; the navigation asks it the same question."""
    return admin.site.has_permission(request)


def register() -> None:
    for page in (
        StaffPage("console", "agents:console", _("Chats"), may_use_console, 10),
        StaffPage(
            "history",
            "agents:history",
            pgettext_lazy("staff navigation", "History"),
            may_read_history,
            20,
            views=("agents:transcript",),
        ),
        StaffPage(
            "floor",
            "agents:floor",
            _("Floor"),
            may_view_floor,
            30,
            views=("agents:floor_monitor",),
        ),
        StaffPage("access", "access:review", _("Access review"), may_review_access, 50),
        StaffPage("audit", "access:audit", _("Audit log"), may_read_audit_log, 60),
        StaffPage("admin", "admin:index", _("Administration"), may_open_admin, 70, ("admin:*",)),
        StaffPage("guidance", "agents:guidance", _("Guidance"), may_use_console, 80),
        StaffPage("signin", "agents:signin", _("Sign-in"), may_use_console, 90),
    ):
        staff_page_register(page)
