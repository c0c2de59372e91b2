"""The one sign-in of the console and admin: password or single sign-on, then the second factor.

Also the account's own sign-in page (recovery codes, sign out everywhere) and the director's
reset of a lost authenticator.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from realtime.net import request_client_ip

from . import oidc, signin
from .forms import ConsoleLoginForm
from .pages import may_review_access
from .types import StaffRequest, StaffUser
from .views import console_view, render


class SignInForm(ConsoleLoginForm):
    """The password step; admin users who are not console users may sign in on their way to
    admin. Anyone else gets the same answer as a wrong password."""

    def __init__(
        self, request: HttpRequest | None = None, *args: Any, for_admin: bool = False, **kwargs: Any
    ) -> None:
        self.for_admin = for_admin
        super().__init__(request, *args, **kwargs)

    def confirm_login_allowed(self, user: StaffUser) -> None:
        if not signin.may_sign_in(user, admin=self.for_admin):
            raise self.get_invalid_login_error()


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


@sensitive_post_parameters("password")
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    """Password (when allowed) or the single sign-on button; then `signin.first_factor_passed`."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    for_admin = signin.is_admin_url(next_url)
    # `renew`: the console asks a signed-in agent to sign in again before the sign-in's
    # absolute lifetime ends it (the new sign-in starts a new lifetime).
    if request.user.is_authenticated and request.method == "GET" and not request.GET.get("renew"):
        return redirect(signin.safe_next(request, next_url))
    form = None
    if settings.CHAT_PASSWORD_SIGNIN:
        form = SignInForm(
            request, data=request.POST if request.method == "POST" else None, for_admin=for_admin
        )
        if request.method == "POST" and form.is_valid():
            return signin.first_factor_passed(
                request, form.get_user(), method=signin.PASSWORD, next_url=next_url
            )
    elif request.method == "POST":
        raise PermissionDenied
    context = {
        "form": form,
        "next": next_url,
        "sso": settings.OIDC_ENABLED,
        "sso_name": settings.OIDC_PROVIDER_NAME,
        "sso_url": reverse("agents:oidc_start") + "?" + urlencode({"next": next_url})
        if next_url
        else reverse("agents:oidc_start"),
        "sso_failed": request.GET.get("sso") == "failed",
        "expired": request.GET.get("expired") == "1",
        "second_factor_now": signin.signin_notice_take(request) == signin.SECOND_FACTOR_NOW_NEEDED,
    }
    return render(request, "agents/login.html", context)


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """Admin signs in through the same page as the console (admin.site.login)."""
    if request.user.is_authenticated:
        # Signed in, yet the admin refused (no staff status): the console's sign-in page would
        # send the browser straight back here, round and round. Say no instead.
        raise PermissionDenied
    target = request.GET.get("next") or reverse("admin:index")
    if not signin.is_admin_url(target):
        target = reverse("admin:index")
    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': target})}")


def _pending_or_restart(request: HttpRequest) -> StaffUser | None:
    user = signin.pending_user(request)
    if user is None:
        signin.pending_drop(request)
    return user


@sensitive_post_parameters("code")
@never_cache
def verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator, or one of the recovery codes."""
    user = _pending_or_restart(request)
    if user is None:
        return redirect(f"{settings.LOGIN_URL}?expired=1")
    if not signin.second_factor_enrolled(user):
        return redirect("agents:signin_setup")
    form = CodeForm(request.POST or None)
    wrong = False
    if request.method == "POST":
        if signin.locked_out(request, user):
            return signin.lockout_response(request)
        if form.is_valid():
            device = signin.code_verify(user, form.cleaned_data["code"])
            if device is not None:
                next_url = signin.pending_next(request)
                signin.signin_complete(request, user, method=signin.PASSWORD, device=device)
                if isinstance(device, StaticDevice):
                    left = signin.recovery_code_used(user=user, actor_ip=request_client_ip(request))
                    messages.warning(
                        request,
                        _("You signed in with a recovery code; %(left)s are left.")
                        % {"left": left},
                    )
                return redirect(next_url)
        signin.code_failed(request, user)
        wrong = True
    return render(
        request,
        "agents/signin_verify.html",
        {"form": form, "wrong": wrong, "LANGUAGE_CODE": translation.get_language()},
    )


@sensitive_post_parameters("code")
@never_cache
def setup(request: HttpRequest) -> HttpResponse:
    """Setting up the authenticator: a QR code drawn here, a code to confirm, recovery codes.

    Reached while pending (the second factor is required and none is set up yet) or signed in
    (from the account's sign-in page)."""
    pending = _pending_or_restart(request)
    user = pending or (request.user if request.user.is_authenticated else None)
    if user is None:
        return redirect(f"{settings.LOGIN_URL}?expired=1")
    if signin.second_factor_enrolled(user):
        return redirect("agents:signin_verify" if pending else "agents:signin")
    device = signin.totp_enrolment_start(user)
    form = CodeForm(request.POST or None)
    wrong = False
    if request.method == "POST" and form.is_valid():
        codes = signin.totp_enrolment_confirm(
            user=user,
            device=device,
            code=form.cleaned_data["code"],
            actor_ip=request_client_ip(request),
        )
        if codes is not None:
            next_url = signin.pending_next(request) if pending else reverse("agents:signin")
            if pending:
                signin.signin_complete(request, user, method=signin.PASSWORD, device=device)
            else:
                otp_login(request, device)
            return render(
                request,
                "agents/signin_codes.html",
                {"codes": codes, "next": next_url, "first": True},
            )
        wrong = True
    return render(
        request,
        "agents/signin_setup.html",
        {
            "form": form,
            "wrong": wrong,
            "qr": signin.qr_svg(device, _("QR code for the authenticator app")),
            "secret": signin.secret_text(device),
            "issuer": settings.CHAT_2FA_ISSUER,
            "username": user.get_username(),
            "required": signin.second_factor_required(user),
            "LANGUAGE_CODE": translation.get_language(),
        },
    )


@console_view()
def account(request: StaffRequest) -> HttpResponse:
    """The agent's own sign-in: how they sign in, recovery codes, sign out everywhere."""
    user = request.user
    return render(
        request,
        "agents/signin_account.html",
        {
            "enrolled": signin.second_factor_enrolled(user),
            "required": signin.second_factor_required(user),
            "codes_left": signin.recovery_codes_left(user),
            "methods": signin.sign_in_methods(user),
            "idle": signin.duration_text(settings.SESSION_COOKIE_AGE),
            "lifetime": signin.duration_text(settings.SESSION_ABSOLUTE_LIFETIME_SECONDS),
        },
    )


@require_POST
@console_view()
def recovery_codes(request: StaffRequest) -> HttpResponse:
    """New recovery codes, shown once; only from a session signed in with the second factor."""
    if not signin.second_factor_enrolled(request.user) or not signin.second_factor_ok(request):
        raise PermissionDenied
    codes = signin.recovery_codes_issue(user=request.user)
    return render(
        request,
        "agents/signin_codes.html",
        {"codes": codes, "next": reverse("agents:signin"), "first": False},
    )


@require_POST
@console_view()
def sign_out_everywhere(request: StaffRequest) -> HttpResponse:
    signin.sign_out_everywhere(user=request.user, actor_ip=request_client_ip(request))
    auth_logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


@require_POST
@login_required
def reset(request: StaffRequest, user_id: int) -> HttpResponse:
    """A director removes another account's lost authenticator (audited)."""
    if not may_review_access(request):
        raise PermissionDenied
    user = get_object_or_404(get_user_model(), pk=user_id)
    if user.pk == request.user.pk:
        raise PermissionDenied
    signin.second_factor_reset(user=user, actor=request.user, actor_ip=request_client_ip(request))
    messages.success(
        request,
        _("The second factor of %(name)s was removed; they set up a new one at their next sign-in.")
        % {"name": user.get_username()},
    )
    return redirect("access:review")


def oidc_start(request: HttpRequest) -> HttpResponse:
    if not settings.OIDC_ENABLED:
        raise Http404
    return oidc.StartView.as_view()(request)


def oidc_callback(request: HttpRequest) -> HttpResponse:
    if not settings.OIDC_ENABLED:
        raise Http404
    return oidc.CallbackView.as_view()(request)
