"""The sign-in settings: defaults per mode, session times, the role map, the deprecated
ADMIN_REQUIRE_OTP, refused mistakes."""

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


SESSIONS = (
    "import django; from django.conf import settings as s; django.setup();"
    "print(s.SESSION_COOKIE_AGE, s.SESSION_ABSOLUTE_LIFETIME_SECONDS, s.OIDC_ROLE_MAP)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "28800 43200 {}"),
        ({**PRODUCTION, **SECRET}, "28800 43200 {}"),
        ({"SESSION_IDLE_TIMEOUT_SECONDS": "1800"}, "1800 43200 {}"),
        (
            {
                **OIDC,
                "OIDC_ROLE_CLAIM": "groups",
                "OIDC_ROLE_MAP": "helao-agents=Agent, helao-directors = Service director",
            },
            "28800 43200 {'helao-agents': 'Agent', 'helao-directors': 'Service director'}",
        ),
    ],
    ids=["development", "production", "idle-30-min", "role-map"],
)
def test_session_times_and_the_role_map_follow_the_environment(env, expected):
    result = _run(env, SESSIONS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SESSION_IDLE_TIMEOUT_SECONDS": str(13 * 3600)},
            "SESSION_IDLE_TIMEOUT_SECONDS must be at least 60 and at most",
        ),
        ({"OIDC_ROLE_CLAIM": "groups"}, "OIDC_ROLE_CLAIM and OIDC_ROLE_MAP are set together"),
        ({"OIDC_ROLE_MAP": "helao-agents=Agent"}, "are set together"),
        (
            {"OIDC_ROLE_CLAIM": "groups", "OIDC_ROLE_MAP": "helao-agents"},
            "'helao-agents' is not provider value=chat role",
        ),
        (
            {"OIDC_ROLE_CLAIM": "groups", "OIDC_ROLE_MAP": "helao-admins=Administrator"},
            "OIDC_ROLE_MAP maps to 'Administrator', which is not a chat role",
        ),
    ],
    ids=["idle-past-lifetime", "claim-alone", "map-alone", "not-a-pair", "not-a-role"],
)
def test_a_session_or_role_map_mistake_stops_the_start(env, message):
    result = _run(env, SESSIONS)
    assert result.returncode != 0
    assert message in result.stderr


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
