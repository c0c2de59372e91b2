"""The sign-in settings: defaults per mode, the deprecated ADMIN_REQUIRE_OTP, refused mistakes."""

from __future__ import annotations

import secrets

import pytest

from tests.test_settings import PRODUCTION, _run

PROBE = (
    "import django; from django.conf import settings as s; django.setup();"
    "print(s.CHAT_REQUIRE_2FA, s.OIDC_ENABLED, 'agents.oidc.StaffOIDCBackend' in "
    "s.AUTHENTICATION_BACKENDS)"
)
SECRET = {"SECRET_KEY": secrets.token_urlsafe(50)}
OIDC = {
    "OIDC_RP_CLIENT_ID": "helao",
    "OIDC_RP_CLIENT_SECRET": "s",
    "OIDC_OP_ISSUER": "https://idp.example",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example/auth",
    "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example/token",
    "OIDC_OP_USER_ENDPOINT": "https://idp.example/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://idp.example/jwks",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "off False False"),
        ({**PRODUCTION, **SECRET}, "roles False False"),
        ({**PRODUCTION, **SECRET, "CHAT_REQUIRE_2FA": "all"}, "all False False"),
        ({"ADMIN_REQUIRE_OTP": "1"}, "roles False False"),
        (OIDC, "off True True"),
    ],
    ids=["development", "production", "all", "admin-require-otp", "sso"],
)
def test_the_second_factor_rule_and_single_sign_on_follow_the_environment(env, expected):
    result = _run(env, PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAT_REQUIRE_2FA": "sometimes"}, "CHAT_REQUIRE_2FA must be"),
        ({"ADMIN_REQUIRE_OTP": "1", "CHAT_REQUIRE_2FA": "off"}, "ADMIN_REQUIRE_OTP is deprecated"),
        ({"CHAT_PASSWORD_SIGNIN": "0"}, "CHAT_PASSWORD_SIGNIN=0 needs single sign-on"),
        ({"OIDC_RP_CLIENT_ID": "helao"}, "set OIDC_RP_CLIENT_SECRET"),
    ],
    ids=["bad-value", "contradiction", "no-way-in", "half-sso"],
)
def test_a_sign_in_mistake_stops_the_start_with_a_clear_error(env, message):
    result = _run(env, PROBE)
    assert result.returncode != 0
    assert message in result.stderr
