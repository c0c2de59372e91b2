"""Single sign-on with OpenID Connect (mozilla-django-oidc, code flow with PKCE and a nonce).

The library's backend checks the signature and the nonce; this one also checks the issuer, the
audience and the token's lifetime, matches the identity to an existing staff account (never
creates one; takes chat roles from the provider only where OIDC_ROLE_MAP says so) and hands the
account to the same second step as a password (`signin.first_factor_passed`).
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from realtime.net import request_client_ip

from . import access, signin
from .models import SignInIdentity
from .types import StaffUser

logger = logging.getLogger(__name__)


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """Signs in an existing staff account from a verified ID token; anyone else gets nothing."""

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> StaffUser | None:
        try:
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, requests.RequestException, ValueError) as exc:
            # A refused token or an unreachable provider is a failed sign-in, not a server error.
            logger.warning("single sign-on refused: %s", type(exc).__name__)
            return None

    def get_payload_data(self, token: bytes | str, key: Any) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation("unexpected signing algorithm")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token refused: {type(exc).__name__}") from exc

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> StaffUser | None:
        claims = self.get_userinfo(access_token, id_token, payload)
        # The user info must be about the person the ID token names (OpenID Connect Core 5.3.2).
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("user info about another subject")
        user = identity_match(issuer=payload["iss"], subject=payload["sub"], claims=claims)
        if user is not None and user.is_active and settings.OIDC_ROLE_MAP:
            access.roles_apply_from_sso(
                user=user,
                provider_values=role_claim_values(payload, claims),
                actor_ip=request_client_ip(self.request),
            )
        next_url = self.request.session.get("oidc_login_next")
        if user is None or not signin.may_sign_in(user, admin=signin.is_admin_url(next_url)):
            return None
        return user


def role_claim_values(id_token: dict, user_info: dict) -> list[str]:
    """The values of OIDC_ROLE_CLAIM (a dotted path), from the ID token, else the user info.
    A claim that is missing or not a string or a list of strings grants nothing."""

    def lookup(claims: Any) -> Any:
        for name in settings.OIDC_ROLE_CLAIM.split("."):
            if not isinstance(claims, dict) or name not in claims:
                return None
            claims = claims[name]
        return claims

    found = lookup(id_token)
    if found is None:
        found = lookup(user_info)
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [value for value in found if isinstance(value, str)]
    return []


def identity_match(*, issuer: str, subject: str, claims: dict) -> StaffUser | None:
    """The staff account of this identity: linked before, or (OIDC_MATCH=email) the one active
    account with the provider's e-mail address, which is then linked. Never a new account."""
    identity = (
        SignInIdentity.objects.filter(issuer=issuer, subject=subject).select_related("user").first()
    )
    if identity is None and settings.OIDC_MATCH == "email":
        email = (claims.get("email") or "").strip()
        if not email or claims.get("email_verified") is False:
            return None
        users = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
        if len(users) != 1:
            return None
        if SignInIdentity.objects.filter(user=users[0], issuer=issuer).exists():
            # The account is linked to another person at this provider.
            return None
        identity = SignInIdentity.objects.create(user=users[0], issuer=issuer, subject=subject)
    if identity is None:
        return None
    identity.last_used_at = timezone.now()
    identity.save(update_fields=["last_used_at"])
    return identity.user


class StartView(OIDCAuthenticationRequestView):
    pass


class CallbackView(OIDCAuthenticationCallbackView):
    def login_failure(self) -> HttpResponse:
        signin.pending_drop(self.request)
        return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)

    def login_success(self) -> HttpResponse:
        return signin.first_factor_passed(
            self.request, self.user, method=signin.SSO, next_url=self.success_url
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().get(request)
        except SuspiciousOperation:
            # An unknown or replayed state.
            return self.login_failure()
