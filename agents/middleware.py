"""Staff sessions: a login ends after SESSION_ABSOLUTE_LIFETIME_SECONDS at the latest, and staff
pages are shown in the staff member's own language.

The idle timeout is Django's own (SESSION_COOKIE_AGE renewed on every request); this bounds a
session that is kept busy all day, e.g. a console on a shared workstation.
"""

from __future__ import annotations

import time
from importlib import import_module

from django.conf import settings
from django.contrib.auth import logout
from django.utils import translation

from .models import AgentProfile

LOGIN_AT_KEY = "helao_login_at"


def login_expired(login_at: object) -> bool:
    if not isinstance(login_at, int | float):
        return False
    return time.time() - login_at > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS


def session_alive(session_key: str | None, user_id: int) -> bool:
    """Whether the stored session still logs in `user_id` (not logged out, idle or too old)."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    return session_data_alive(store.load(), user_id)


def session_data_alive(data: dict, user_id: int) -> bool:
    """Whether a loaded session's data logs in `user_id` and is not past its absolute lifetime."""
    if str(data.get("_auth_user_id")) != str(user_id):
        return False
    return not login_expired(data.get(LOGIN_AT_KEY))


class AbsoluteSessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and login_expired(request.session.get(LOGIN_AT_KEY))
        ):
            logout(request)
        return self.get_response(request)


#: The staff side of the site: the console's pages, the director's pages and the admin.
STAFF_PATHS = ("/console/", "/reports/", "/admin/")


class StaffLanguageMiddleware:
    """Staff pages speak the language the staff member chose in the console (AgentProfile),
    not the one their browser asks for: every staff page, the admin included, in one language.
    Visitors' pages (the widget, /privacy/) keep their own choice."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(STAFF_PATHS):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                # Read once per request; the staff pages' guards and header use it too.
                profile = AgentProfile.objects.filter(user=user).first()
                request.agent_profile = profile
                if profile is not None:
                    translation.activate(profile.language)
                    request.LANGUAGE_CODE = profile.language
        return self.get_response(request)
