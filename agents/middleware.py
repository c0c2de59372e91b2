"""Whether a staff session still stands: its absolute lifetime, and whether it holds the second
factor its account needs; and staff pages are shown in the staff member's own language.

A login ends after SESSION_ABSOLUTE_LIFETIME_SECONDS at the latest. The idle timeout is Django's
own (SESSION_COOKIE_AGE, SESSION_IDLE_TIMEOUT_SECONDS, renewed on every request); the absolute
lifetime bounds a session that is kept busy all day, e.g. a console on a shared workstation.
The same checks serve a request (here and `signin.SecondFactorMiddleware`) and an open console
socket (`agents.consumers`, from the stored session).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django_otp import DEVICE_ID_SESSION_KEY

from .models import AgentProfile

LOGIN_AT_KEY = "helao_login_at"
# How the session signed in (`signin.PASSWORD` or `signin.SSO`).
METHOD_KEY = "helao_signin_method"
SSO = "sso"


def login_expired(login_at: object) -> bool:
    if not isinstance(login_at, int | float):
        return False
    return time.time() - login_at > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS


def session_second_factor(data: Mapping[str, Any]) -> bool:
    """Whether a session (its data) signed in with a second factor, or with single sign-on that
    stands for one (OIDC_COUNTS_AS_SECOND_FACTOR)."""
    if data.get(DEVICE_ID_SESSION_KEY):
        return True
    return data.get(METHOD_KEY) == SSO and settings.OIDC_COUNTS_AS_SECOND_FACTOR


def session_alive(
    session_key: str | None, user_id: int, *, second_factor_needed: bool = False
) -> bool:
    """Whether the stored session still logs in `user_id` (not logged out, idle or too old, and
    with the second factor the account needs now)."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    return session_data_alive(store.load(), user_id, second_factor_needed=second_factor_needed)


def session_data_alive(data: dict, user_id: int, *, second_factor_needed: bool = False) -> bool:
    """Whether a loaded session's data logs in `user_id`, is not past its absolute lifetime and,
    if the account needs a second factor now, signed in with one."""
    if str(data.get("_auth_user_id")) != str(user_id):
        return False
    if second_factor_needed and not session_second_factor(data):
        return False
    return not login_expired(data.get(LOGIN_AT_KEY))


class AbsoluteSessionLifetimeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
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

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(STAFF_PATHS):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                # Read once per request; the staff pages' guards and header use it too.
                profile = AgentProfile.objects.filter(user=user).first()
                request.agent_profile = profile  # type: ignore[attr-defined]
                if profile is not None:
                    translation.activate(profile.language)
                    request.LANGUAGE_CODE = profile.language
        return self.get_response(request)
