"""An open console's login recheck: from the event loop in one query, same answers as the
thread version (access rule, second-factor rule and stored session), whatever made the login
invalid."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from agents import selectors
from agents.consumers import _login_valid
from agents.middleware import LOGIN_AT_KEY, METHOD_KEY, SSO
from agents.roles import AGENT, DIRECTOR, TEAM_LEAD

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the writer exists on PostgreSQL only"
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
]


def _login(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _deactivate(user, key):
    user.is_active = False
    user.save(update_fields=["is_active"])


def _remove_role(user, key):
    user.groups.remove(Group.objects.get(name=AGENT))


def _log_out(user, key):
    Session.objects.filter(session_key=key).delete()


def _expire(user, key):
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(1))


def _too_old(user, key):
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore(session_key=key)
    store[LOGIN_AT_KEY] = 0  # logged in at the epoch: far past the absolute lifetime
    store.save()


def _corrupt(user, key):
    Session.objects.filter(session_key=key).update(session_data="not signed")


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        (None, True),
        (_deactivate, False),
        (_remove_role, False),
        (_log_out, False),
        (_expire, False),
        (_too_old, False),
        (_corrupt, False),
    ],
)
async def test_the_recheck_from_the_event_loop_agrees_with_the_thread_version(alice, change, valid):
    key = await sync_to_async(_login)(alice)
    if change is not None:
        await sync_to_async(change)(alice, key)
    assert await selectors.console_login_valid(alice, key) is valid
    assert await sync_to_async(_login_valid)(alice, key) is valid


async def test_someone_elses_session_or_none_is_not_a_login(alice, bob):
    key = await sync_to_async(_login)(bob)
    assert await selectors.console_login_valid(alice, key) is False
    assert await selectors.console_login_valid(alice, None) is False
    assert await selectors.console_login_valid(None, key) is False


async def test_sessions_kept_elsewhere_are_left_to_the_thread_version(alice, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    assert await selectors.console_login_valid(alice, "any") is None


def _signed_in_with(key: str, factor: str | None) -> None:
    """What the sign-in leaves in the session: the device that gave the code, or SSO."""
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore(session_key=key)
    if factor == "code":
        store[DEVICE_ID_SESSION_KEY] = "django_otp.plugins.otp_totp.models.TOTPDevice/1"
    elif factor == "sso":
        store[METHOD_KEY] = SSO
    store.save()


@pytest.mark.parametrize(
    ("rule", "role", "factor", "sso_counts", "valid"),
    [
        ("off", DIRECTOR, None, False, True),
        ("roles", AGENT, None, False, True),
        ("roles", TEAM_LEAD, None, False, False),
        ("roles", DIRECTOR, None, False, False),
        ("roles", DIRECTOR, "code", False, True),
        ("roles", DIRECTOR, "sso", False, False),
        ("roles", DIRECTOR, "sso", True, True),
        ("all", AGENT, None, False, False),
        ("all", AGENT, "code", False, True),
    ],
)
async def test_the_recheck_asks_for_the_second_factor_the_account_needs_now(
    alice, settings, rule, role, factor, sso_counts, valid
):
    settings.CHAT_REQUIRE_2FA = rule
    settings.OIDC_COUNTS_AS_SECOND_FACTOR = sso_counts
    key = await sync_to_async(_login)(alice)
    await sync_to_async(_signed_in_with)(key, factor)
    await sync_to_async(alice.groups.add)(await Group.objects.aget(name=role))
    assert await selectors.console_login_valid(alice, key) is valid
    assert await sync_to_async(_login_valid)(alice, key) is valid
