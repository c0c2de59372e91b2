"""Staff sign-in: the second factor, the step between the first factor and a session, lockout.

Every way in (the console's and admin's one sign-in page, single sign-on) ends in
`first_factor_passed`: the account is signed in at once, or is held in the session as *pending*
(not signed in: no page, no socket, no admin) until it gives a second factor or enrols one.
`second_factor_required` asks the one rule of who must have a second factor
(`selectors.second_factor_users`, also what an open console socket rechecks).
"""

from __future__ import annotations

import math
import secrets
import time
from base64 import b32encode
from collections.abc import Callable
from typing import Any

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from chat.models import AuditEvent
from chat.services import audit_record

from . import selectors
from .access import sessions_end
from .middleware import METHOD_KEY, SSO, session_second_factor
from .models import SignInIdentity
from .types import AnyUser, StaffUser

PENDING_KEY = "helao_signin_pending"
# Why the last session ended, for the sign-in page to say (kept in the new anonymous session).
NOTICE_KEY = "helao_signin_notice"
SECOND_FACTOR_NOW_NEEDED = "second_factor"
# The second step must follow the first within this time, else the first is asked again.
PENDING_SECONDS = 5 * 60
RECOVERY_CODE_COUNT = 10
PASSWORD = "password"  # noqa: S105  (a sign-in method, not a secret)


def second_factor_required(user: AnyUser) -> bool:
    """Whether `user` must sign in with a second factor (CHAT_REQUIRE_2FA; the rule is
    `selectors.second_factor_users`), read afresh from the database."""
    return user.pk is not None and selectors.second_factor_needed(user.pk)


def totp_device(user: StaffUser, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("id").first()


def second_factor_enrolled(user: StaffUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: StaffUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def may_sign_in(user: AnyUser, *, admin: bool) -> bool:
    """Console users may sign in; admin users too when they are going to admin."""
    if not user.is_active:
        return False
    return user.has_perm("agents.use_console") or (admin and user.is_staff)


def is_admin_url(url: str | None) -> bool:
    return url is not None and url.startswith("/admin/")


def safe_next(request: HttpRequest, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, {request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return settings.LOGIN_REDIRECT_URL


# --- the step between the factors ------------------------------------------------------------


def first_factor_passed(
    request: HttpRequest, user: StaffUser, *, method: str, next_url: str
) -> HttpResponse:
    """Signs `user` in, or holds them pending until a second factor is given or enrolled."""
    next_url = safe_next(request, next_url)
    sso_is_enough = session_second_factor({METHOD_KEY: method})
    enrolled = second_factor_enrolled(user)
    if sso_is_enough or not (enrolled or second_factor_required(user)):
        signin_complete(request, user, method=method, device=None)
        return redirect(next_url)
    # A new session key: whatever an attacker planted before the password is worth nothing.
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user_id": user.pk,
        "backend": user.backend,  # type: ignore[attr-defined]
        "method": method,
        "at": time.time(),
        "next": next_url,
    }
    return redirect("agents:signin_verify" if enrolled else "agents:signin_setup")


def pending_user(request: HttpRequest) -> StaffUser | None:
    """The account that passed the first factor in this session and waits for the second."""
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user_id = pending.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        # As auth.authenticate sets it on the user it returns.
        user.backend = pending["backend"]  # type: ignore[attr-defined]
    return user


def pending_next(request: HttpRequest) -> str:
    return (request.session.get(PENDING_KEY) or {}).get("next") or settings.LOGIN_REDIRECT_URL


def pending_drop(request: HttpRequest) -> None:
    request.session.pop(PENDING_KEY, None)


def signin_complete(
    request: HttpRequest, user: StaffUser, *, method: str, device: Device | None
) -> None:
    method = (request.session.get(PENDING_KEY) or {}).get("method", method)
    pending_drop(request)
    auth.login(request, user, backend=user.backend)  # type: ignore[attr-defined]
    if device is not None:
        otp_login(request, device)
    request.session[METHOD_KEY] = method


def second_factor_ok(request: HttpRequest) -> bool:
    """Whether this session's sign-in included a second factor (or SSO that stands for one)."""
    is_verified = getattr(request.user, "is_verified", None)  # django-otp's middleware adds it
    if is_verified is not None and is_verified():
        return True
    # django-otp has checked the device of the session above; what is left is single sign-on.
    return session_second_factor({METHOD_KEY: request.session.get(METHOD_KEY)})


# --- lockout (django-axes) -------------------------------------------------------------------


def _credentials(user: StaffUser) -> dict[str, Any]:
    return {"username": user.get_username()}


def locked_out(request: HttpRequest, user: StaffUser) -> bool:
    return not AxesProxyHandler.is_allowed(request, _credentials(user))


def code_failed(request: HttpRequest, user: StaffUser) -> None:
    """A wrong second-factor or recovery code counts like a wrong password (django-axes)."""
    user_login_failed.send(
        sender=__name__,
        credentials={**_credentials(user), "step": "second_factor"},
        request=request,
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """The page for a lockout, whichever step tripped it (AXES_LOCKOUT_CALLABLE)."""
    if hasattr(request, "session"):
        pending_drop(request)
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(
        request,
        "agents/locked_out.html",
        {"minutes": minutes, "LANGUAGE_CODE": translation.get_language()},
        status=429,
    )


# --- the second factor -----------------------------------------------------------------------


def code_verify(user: StaffUser, code: str) -> Device | None:
    """The confirmed device that accepts `code` (an authenticator code or a recovery code, which
    is then used up), or None. Each device keeps its own throttle besides the lockout."""
    code = "".join(code.split()).lower()
    if not code:
        return None
    devices: list = []
    if code.isdigit():
        devices += TOTPDevice.objects.filter(user=user, confirmed=True)
    devices += StaticDevice.objects.filter(user=user, confirmed=True)
    for device in devices:
        allowed, _ = device.verify_is_allowed()
        if allowed and device.verify_token(code):
            return device
    return None


def totp_enrolment_start(user: StaffUser) -> TOTPDevice:
    """The account's authenticator being set up (one unconfirmed device at a time)."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def qr_svg(device: TOTPDevice, title: str) -> str:
    """The enrolment QR code drawn on the server as inline SVG (no third party sees the key)."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=5, border=4, title=title, svgclass="qr", lineclass="qr-line"
    )


def secret_text(device: TOTPDevice) -> str:
    """The key in groups of four, for typing into an app that cannot scan."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@transaction.atomic
def totp_enrolment_confirm(
    *, user: StaffUser, device: TOTPDevice, code: str, actor_ip: str | None
) -> list[str] | None:
    """Confirms the authenticator with a code from it; returns the new recovery codes (shown
    once), or None if the code was wrong."""
    code = "".join(code.split())
    if not code.isdigit() or not device.verify_token(code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    audit_record(
        action=AuditEvent.Action.SECOND_FACTOR_ENROLLED,
        actor=user,
        object_ref=f"user:{user.get_username()}",
        actor_ip=actor_ip,
    )
    return recovery_codes_issue(user=user)


def _recovery_code() -> str:
    # 40 bits in eight characters a person can copy: no 0/o, 1/l.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


@transaction.atomic
def recovery_codes_issue(*, user: StaffUser) -> list[str]:
    """New one-time recovery codes; every earlier one stops working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


@transaction.atomic
def second_factor_reset(*, user: StaffUser, actor: StaffUser | None, actor_ip: str | None) -> None:
    """A director removes a lost authenticator and the recovery codes, and signs the account out
    everywhere; at the next sign-in the account sets up a new one."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit_record(
        action=AuditEvent.Action.SECOND_FACTOR_RESET,
        actor=actor,
        object_ref=f"user:{user.get_username()}",
        actor_ip=actor_ip,
    )
    sessions_end(user=user)


def recovery_code_used(*, user: StaffUser, actor_ip: str | None) -> int:
    """Audits a sign-in with a recovery code (used up); returns how many are left."""
    audit_record(
        action=AuditEvent.Action.RECOVERY_CODE_USED,
        actor=user,
        object_ref=f"user:{user.get_username()}",
        actor_ip=actor_ip,
    )
    return recovery_codes_left(user)


def sign_out_everywhere(*, user: StaffUser, actor_ip: str | None) -> int:
    """Ends every session of the account, this one included; its consoles close."""
    audit_record(
        action=AuditEvent.Action.SIGNED_OUT_EVERYWHERE,
        actor=user,
        object_ref=f"user:{user.get_username()}",
        actor_ip=actor_ip,
    )
    return sessions_end(user=user)


def sign_in_methods(user: StaffUser) -> list[str]:
    """How the account can sign in, for the access review: password, sso, 2fa."""
    methods = []
    if settings.CHAT_PASSWORD_SIGNIN and user.has_usable_password():
        methods.append(PASSWORD)
    if SignInIdentity.objects.filter(user=user).exists():
        methods.append(SSO)
    if second_factor_enrolled(user):
        methods.append("2fa")
    return methods


def duration_text(seconds: int) -> str:
    """A session time for people to read: "8 hours", "30 minutes"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = max(1, seconds // 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def signin_notice_take(request: HttpRequest) -> str | None:
    """Why the session's previous sign-in ended, said once on the sign-in page."""
    return request.session.pop(NOTICE_KEY, None) if hasattr(request, "session") else None


class SecondFactorMiddleware:
    """An account that must have a second factor and is signed in without one (its role grew,
    or the rule was tightened, after it signed in) is signed out and asked to sign in again;
    the sign-in page says why, and after the password it goes on to set up or give the second
    factor. The password is asked again on purpose: whoever merely holds the session (a cookie
    taken from a shared computer) must not be the one who sets up the account's authenticator.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not second_factor_ok(request)
            and second_factor_required(user)
        ):
            auth.logout(request)
            request.session[NOTICE_KEY] = SECOND_FACTOR_NOW_NEEDED
            if request.path == settings.LOGIN_URL:
                return redirect(request.get_full_path())
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
