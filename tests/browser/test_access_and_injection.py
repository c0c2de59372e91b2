"""In a real browser: a director revokes an idle agent, who is logged out at once; and markup
sent by anyone renders as inert text in the widget, the console, the history and the admin."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from agents.services import guidance_acknowledge, profile_get
from tests.browser.test_widget import host_site, site  # noqa: F401
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOAD = (
    '<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2;alert(2)">'
)
REPLY = (
    '<svg onload="window.__pwned=3;alert(3)"></svg> javascript:alert(4) '
    '<a href="javascript:alert(5)">x</a>'
)


def _english(*users) -> None:
    for user in users:
        profile = profile_get(user=user)
        profile.language = "en"
        profile.save(update_fields=["language"])
        guidance_acknowledge(user=user, actor_ip=None)


@pytest.fixture
def english_staff(alice, dana):
    """Alice and Dana use the console in English and have read its guidance. Done before the
    browser starts: the ORM must not run inside Playwright's event loop."""
    _english(alice, dana)


@pytest.fixture
def idle_alice_session(english_staff, alice):
    """A live console session of Alice, who otherwise has not been seen for a year."""
    from django.test import Client

    client = Client()
    client.force_login(alice)
    get_user_model().objects.filter(pk=alice.pk).update(
        last_login=timezone.now() - timedelta(days=365),
        date_joined=timezone.now() - timedelta(days=400),
    )
    return client.cookies["sessionid"].value


def _sign_in(page, base: str, username: str, then: str = "/console/") -> None:
    page.goto(f"{base}/console/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()


def test_a_director_revokes_an_idle_agent_who_is_logged_out(
    idle_alice_session,
    chat_server,
    browser,
):
    base = chat_server
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": idle_alice_session, "url": base}])
    agent_page = context.new_page()
    agent_page.goto(f"{base}/console/")
    expect(agent_page.locator("#conn")).to_have_text("Connected")
    director = browser.new_context().new_page()
    _sign_in(director, base, "dana", then="/console/access/")
    expect(director).to_have_url(f"{base}/console/access/")
    row = director.locator("tr", has_text="alice")
    expect(row).to_contain_text("Dormant")
    row.get_by_label("Approved by").fill("Head principal")
    row.get_by_role("button", name="Revoke access of alice").click()
    expect(director.get_by_role("status")).to_contain_text("signed out")
    # Her open console notices within seconds and goes to the login page.
    expect(agent_page).to_have_url(re.compile(r"/console/login/"), timeout=20_000)
    agent_page.goto(f"{base}/console/")
    expect(agent_page).to_have_url(re.compile(r"/console/login/"))


def test_markup_from_visitors_and_agents_renders_inert_everywhere(
    english_staff,
    site,  # noqa: F811
    browser,
):
    _host, chat, write = site
    # Escaped once for the host page's own HTML; document.title is then the raw markup.
    page_url = write("evil.html", title=html.escape('<img src=x onerror="alert(6)">Prices'))
    dialogs: list[str] = []

    visitor = browser.new_context().new_page()
    visitor.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    agent = browser.new_context().new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    _sign_in(agent, chat, "alice")
    expect(agent.locator("#conn")).to_have_text("Connected")
    agent.select_option("#presence", "online")

    visitor.goto(page_url)
    visitor.get_by_role("button", name="Open chat").click()
    panel = visitor.frame_locator("iframe[title='Chat']")
    box = panel.get_by_role("textbox", name="Message")
    expect(box).to_be_enabled(timeout=20_000)
    box.fill(PAYLOAD)
    panel.get_by_role("button", name="Send").click()

    item = agent.locator("#queue .queue-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("<script>")
    item.get_by_role("button").click()
    expect(agent.locator("#log")).to_contain_text(PAYLOAD)
    expect(agent.locator("#panel-facts")).to_contain_text('<img src=x onerror="alert(6)">Prices')
    agent.get_by_role("textbox", name="Reply").fill(REPLY)
    agent.keyboard.press("Enter")
    expect(panel.locator("body")).to_contain_text("javascript:alert(4)", timeout=20_000)
    expect(panel.locator("body")).to_contain_text("<svg onload")

    reference = agent.locator("#chat-h").inner_text()
    agent.goto(f"{chat}/console/history/{reference}/")
    expect(agent.locator("main")).to_contain_text(PAYLOAD)

    director = browser.new_context().new_page()
    director.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _sign_in(director, chat, "dana", then="/admin/chat/conversation/")
    expect(director.locator("body")).to_contain_text(reference)

    for target in (visitor, agent, director):
        assert target.evaluate("() => window.__pwned === undefined")
    assert visitor.frames[1].evaluate("() => window.__pwned === undefined")
    assert dialogs == []
