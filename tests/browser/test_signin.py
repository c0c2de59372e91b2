"""Signing in with a second factor in a real browser: a director enrols (QR code, a code the
test computes as the phone would, recovery codes), signs in again with a code and with a
recovery code (once only), gets locked out by wrong codes, and resets an agent's lost device; an
agent whose open console now needs a second factor is led to set one up. Every page is
axe-clean."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from agents.roles import DIRECTOR
from agents.services import guidance_acknowledge, language_set
from chat.models import AuditEvent
from tests.agents.test_signin import enrolled, totp_code
from tests.browser.axe import serious
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def orm(func, *args, **kwargs):
    """Runs database work beside Playwright's event loop (Django refuses it inside one)."""
    from django.db import connections

    def unit():
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(unit).result()


@pytest.fixture
def server(settings, dana, alice):
    settings.CHAT_REQUIRE_2FA = "roles"
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    for user in (dana, alice):
        guidance_acknowledge(user=user, actor_ip=None)
        language_set(user=user, language="en")
    return settings


def _password(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form.card button[type=submit]").click()


def _code(page, code: str) -> None:
    page.fill("#id_code", code)
    page.locator("form.card button[type=submit]").click()


def test_a_director_enrols_and_signs_in_with_codes(server, chat_server, browser, dana):
    page = browser.new_context(locale="en-GB").new_page()
    _password(page, chat_server, "dana")
    expect(page).to_have_url(re.compile(r"/console/login/setup/$"))
    expect(page.locator("figure svg title")).to_have_count(1)
    assert serious(page) == []
    device = orm(TOTPDevice.objects.get, user=dana, confirmed=False)
    _code(page, "000000")
    expect(page.locator(".error[role=alert]")).to_be_visible()
    _code(page, totp_code(device))
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert serious(page) == []
    # The codes are shown this once: a button prints them (the browser's dialog stands in).
    page.evaluate("window.print = () => { window.printed = true; }")
    page.get_by_role("button", name="Print the codes").click()
    assert page.evaluate("window.printed") is True
    page.get_by_role("link", name=re.compile("continue", re.I)).click()
    expect(page).to_have_url(re.compile(r"/console/$"))

    # Signed out, the next sign-in asks for a code; the newest one from the phone works.
    page.goto(f"{chat_server}/console/sign-in/")
    assert serious(page) == []
    page.locator("header form[action$='/logout/'] button").click()
    _password(page, chat_server, "dana")
    expect(page).to_have_url(re.compile(r"/console/login/code/$"))
    assert serious(page) == []
    _code(page, totp_code(device, steps_ahead=1))
    expect(page).to_have_url(re.compile(r"/console/$"))

    # A recovery code works once, never twice.
    for attempt in range(2):
        page.context.clear_cookies()
        _password(page, chat_server, "dana")
        _code(page, codes[0])
        if attempt == 0:
            expect(page).to_have_url(re.compile(r"/console/$"))
        else:
            expect(page).to_have_url(re.compile(r"/console/login/code/$"))
            expect(page.locator(".error[role=alert]")).to_be_visible()


def test_an_agent_signs_in_with_the_password_alone(server, chat_server, browser):
    page = browser.new_context(locale="en-GB").new_page()
    _password(page, chat_server, "alice")
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.locator("#conn")).to_have_text("Connected")


@pytest.fixture
def rule(server, request):
    """CHAT_REQUIRE_2FA for the server (set before `chat_server` starts it)."""
    server.CHAT_REQUIRE_2FA = request.param
    return request.param


@pytest.mark.parametrize(
    ("rule", "username", "asked"),
    [("off", "dana", False), ("all", "alice", True)],
    indirect=["rule"],
)
def test_the_rule_decides_who_is_asked_for_the_second_factor(
    rule, chat_server, browser, username, asked
):
    page = browser.new_context(locale="en-GB").new_page()
    _password(page, chat_server, username)
    if asked:
        # Under `all` even an agent sets one up before the console opens.
        expect(page).to_have_url(re.compile(r"/console/login/setup/$"))
        expect(page.locator("figure svg title")).to_have_count(1)
    else:
        # Under `off` even the director signs in with the password alone.
        expect(page).to_have_url(re.compile(r"/console/$"))
        expect(page.locator("#conn")).to_have_text("Connected")


def test_wrong_codes_lock_the_sign_in_with_a_clear_message(server, chat_server, browser, dana):
    orm(enrolled, dana)
    page = browser.new_context(locale="en-GB").new_page()
    _password(page, chat_server, "dana")
    for _ in range(server.AXES_FAILURE_LIMIT):
        _code(page, "123456")
    expect(page.locator("h1")).to_have_text("Signing in is blocked for a while")
    expect(page.locator("[role=alert]")).to_contain_text("15 minutes")
    assert serious(page) == []
    _password(page, chat_server, "dana")
    expect(page.locator("h1")).to_have_text("Signing in is blocked for a while")


def test_the_director_resets_a_lost_device(server, chat_server, browser, dana, alice):
    device, _ = orm(enrolled, dana)
    orm(enrolled, alice)
    page = browser.new_context(locale="en-GB").new_page()
    _password(page, chat_server, "dana")
    _code(page, totp_code(device))
    page.goto(f"{chat_server}/console/access/")
    row = page.locator("tr", has=page.locator("th bdi", has_text=re.compile("^alice$")))
    expect(row).to_contain_text("Password, second factor")
    assert serious(page) == []
    row.get_by_role("button", name=re.compile("Reset the second factor")).click()
    expect(page.locator(".notice[role=status]")).to_contain_text("alice")
    assert not orm(TOTPDevice.objects.filter(user=alice).exists)
    assert orm(
        AuditEvent.objects.filter(
            action=AuditEvent.Action.SECOND_FACTOR_RESET, object_ref="user:alice"
        ).exists
    )
    # Alice is an agent: with the device gone, the password alone signs her in again.
    other = browser.new_context(locale="en-GB").new_page()
    _password(other, chat_server, "alice")
    expect(other).to_have_url(re.compile(r"/console/$"))


def _promote(user, role: str) -> None:
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=role))


def test_an_open_console_that_now_needs_the_second_factor_leads_to_setting_it_up(
    server, chat_server, browser, alice
):
    page = browser.new_context(locale="en-GB").new_page()
    _password(page, chat_server, "alice")
    expect(page.locator("#conn")).to_have_text("Connected")
    # The director makes the agent a service director, which needs a second factor. The test's
    # change reaches the server's process by the socket's own recheck (every 15 s).
    orm(_promote, alice, DIRECTOR)
    expect(page).to_have_url(re.compile(r"/console/login/\?next="), timeout=20_000)
    expect(page.locator(".notice[role=status]")).to_contain_text("now needs a second factor")
    assert serious(page) == []
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.locator("form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/console/login/setup/$"))
    device = orm(TOTPDevice.objects.get, user=alice, confirmed=False)
    _code(page, totp_code(device))
    expect(page.locator("#recovery-codes code")).to_have_count(10)
    page.get_by_role("link", name=re.compile("continue", re.I)).click()
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.locator("#conn")).to_have_text("Connected")
