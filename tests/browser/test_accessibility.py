"""WCAG 2.1 AA checks a person makes in a browser (docs/accessibility.md): 320 px reflow and 200 %
zoom for the widget and the console, live regions that say each new thing once, and the
accessibility statement clean under axe."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser import test_console, test_widget
from tests.browser.axe import serious, violations
from tests.browser.test_widget import agent, host_site, site  # noqa: F401  shared fixtures
from tests.conftest import PASSWORD, chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=20_000)

# 320 CSS px wide (WCAG 1.4.10: 1280 px at 400 %), and 1280 x 800 at 200 % zoom (1.4.4).
REFLOW = {"viewport": {"width": 320, "height": 640}}
ZOOM_200 = {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2}
SCREENS = {"320px": REFLOW, "zoom200": ZOOM_200}

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
LONG_WORD = "Supercalifragilisticexpialidocious" * 3


def _in_view(locator) -> None:
    """Visible, and inside the viewport once scrolled to (nothing cut off at the side)."""
    locator.scroll_into_view_if_needed()
    expect(locator).to_be_in_viewport()
    box = locator.bounding_box()
    width = locator.page.viewport_size["width"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, box


@pytest.mark.parametrize("screen", SCREENS)
def test_the_widget_reflows_at_320_px_and_200_percent_zoom(
    agent,  # noqa: F811
    site,  # noqa: F811
    browser,
    screen,
):
    write = site[2]
    context = browser.new_context(**SCREENS[screen])
    page = context.new_page()
    page.goto(write("small.html", title="Small"))
    test_widget._launcher(page).click()
    frame = page.locator("iframe[title='Chat']")
    box = frame.bounding_box()
    size = page.viewport_size
    # The panel takes the whole screen rather than a corner of it.
    assert box == {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-input")).to_be_focused()
    panel.locator("#hc-input").fill(LONG_WORD)
    panel.locator("#hc-input").press("Enter")
    expect(panel.locator(".msg.mine .state")).to_have_text("Sent")
    queued = agent.wait("queue.message")
    agent.send({"type": "conversation.claim", "conversation_id": queued["conversation_id"]})
    agent.wait("conversation.claim.ok")
    inner = next(f for f in page.frames if "/widget/panel/" in f.url)
    assert inner.evaluate(NO_SIDEWAYS_SCROLL)
    for name in ("#hc-input", "#hc-send", "#hc-min", "#hc-end", "#hc-copy"):
        _in_view(panel.locator(name))
    # Keyboard order in the panel: the message box, then Send.
    panel.locator("#hc-input").focus()
    page.keyboard.press("Tab")
    expect(panel.locator("#hc-send")).to_be_focused()
    assert serious(inner) == []
    context.close()


def test_the_widget_says_each_new_message_and_typing_once_and_history_never(
    agent,  # noqa: F811
    site,  # noqa: F811
    browser,
):
    write = site[2]
    first = write("one.html", title="One", next_page="two.html")
    write("two.html", title="Two", next_page="one.html")
    context = browser.new_context()
    page, panel = test_widget._open_panel(context, first)
    # Counts what is added to the live regions from now on.
    inner = next(f for f in page.frames if "/widget/panel/" in f.url)
    counting = """() => {
      window.said = []; window.typingChanges = 0;
      const add = (m) => m.forEach((r) => r.addedNodes.forEach((n) => said.push(n.textContent)));
      new MutationObserver(add).observe(document.getElementById("hc-said"), { childList: true });
      const all = { childList: true, subtree: true, characterData: true };
      const typing = document.getElementById("hc-typing");
      new MutationObserver(() => typingChanges++).observe(typing, all);
    }"""
    inner.evaluate(counting)
    assert panel.locator("#hc-log").get_attribute("aria-live") == "off"
    panel.locator("#hc-input").fill("Is anyone there?")
    panel.locator("#hc-input").press("Enter")
    queued = agent.wait("queue.message")
    conversation_id = queued["conversation_id"]
    agent.send({"type": "conversation.claim", "conversation_id": conversation_id})
    agent.wait("conversation.claim.ok")
    for _ in range(3):
        agent.send({"type": "typing", "conversation_id": conversation_id, "active": True})
    agent.send(
        {
            "type": "message.send",
            "conversation_id": conversation_id,
            "text": "Yes, Alice here.",
            "client_msg_id": "a1",
        }
    )
    expect(panel.locator(".msg.agent .text")).to_have_text("Yes, Alice here.")
    said = inner.evaluate("() => said")
    # The visitor's own message is not read back; the join and the answer are said once each.
    assert said == ["Alice Agent joined the chat", "Alice Agent: Yes, Alice here."]
    # Three typing frames: shown once, then cleared by the message.
    assert inner.evaluate("() => typingChanges") == 2

    # The next page shows the whole conversation again, and says none of it.
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_title("Two")
    test_widget._launcher(page).click()
    expect(panel.locator(".msg.agent .text")).to_have_text("Yes, Alice here.")
    inner = next(f for f in page.frames if "/widget/panel/" in f.url)
    assert inner.evaluate("() => document.getElementById('hc-said').childElementCount") == 0
    context.close()


@pytest.fixture
def english_alice(alice):
    from agents.services import guidance_acknowledge, profile_get

    profile = profile_get(user=alice)
    profile.language = "en"
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)
    return alice


@pytest.mark.parametrize("screen", SCREENS)
def test_the_console_reflows_at_320_px_and_200_percent_zoom(english_alice, chat_server, screen):
    with chromium() as browser:
        context = browser.new_context(**SCREENS[screen])
        page, visitor = test_console._online_with_a_chat(context, chat_server)
        visitor.send({"type": "message.send", "text": LONG_WORD, "client_msg_id": "v2"})
        expect(page.locator("#log")).to_contain_text(LONG_WORD[:30])
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        for name in ("#presence", "#text", "#composer button[type=submit]", "#close-chat"):
            _in_view(page.locator(name))
        # Answering by keyboard still works, and the visitor's next message is said once.
        page.locator("#text").fill("Here is the answer.")
        page.locator("#text").press("Enter")
        visitor.until(lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent")
        visitor.send({"type": "message.send", "text": "Thanks!", "client_msg_id": "v3"})
        expect(page.locator("#said p").last).to_have_text("Visitor: Thanks!")
        assert page.locator("#log-wrap").get_attribute("aria-live") == "off"
        assert serious(page) == []
        visitor.ws.close()
        context.close()


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_accessibility_statement_is_clean_under_axe_and_reflows(chat_server, lang):
    with chromium() as browser:
        page = browser.new_page(**REFLOW)
        page.goto(f"{chat_server}/accessibility/?lang={lang}")
        assert violations(page) == []
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        # A refused message: the error is announced, and the page is still clean.
        page.locator("#reply_email").fill("not an address")
        page.locator("#message").fill("The contrast of the links is low.")
        page.locator("#message").press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        # Focus goes to the error, which the address field points to.
        expect(page.get_by_role("alert")).to_be_focused()
        expect(page.locator("#reply_email")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#message")).to_have_value("The contrast of the links is low.")
        assert violations(page) == []
        page.locator("#reply_email").fill("")
        page.get_by_role("button").last.click()
        expect(page.locator("#feedback-sent")).to_be_focused()
        assert violations(page) == []


def test_the_console_warns_before_the_idle_sign_out_and_one_press_renews_it(
    english_alice, chat_server
):
    with chromium() as browser:
        page = browser.new_context().new_page()
        # The console's clock: idleness until two minutes before the sign-out passes at once.
        page.clock.install()
        test_console._sign_in(page, chat_server, "alice")
        expect(page.locator("#conn")).to_have_text("Connected")
        warning = page.get_by_role("alertdialog")
        expect(warning).to_be_hidden()
        page.clock.fast_forward((settings.SESSION_COOKIE_AGE - 120) * 1000)
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("You will be signed out in two minutes")
        stay = page.get_by_role("button", name="Stay signed in")
        expect(stay).to_be_focused()
        page.keyboard.press("Enter")
        expect(warning).to_be_hidden()
        # Still signed in: the console answers as before.
        expect(page).to_have_url(f"{chat_server}/console/")


def _login_at(session_key: str) -> float:
    """The stored session's sign-in time, read off the thread of Playwright's event loop."""
    from concurrent.futures import ThreadPoolExecutor
    from importlib import import_module

    from django.db import connections

    from agents.middleware import LOGIN_AT_KEY

    def read():
        try:
            store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
            return store.load()[LOGIN_AT_KEY]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


def test_the_console_warns_before_the_sign_in_ends_and_a_new_sign_in_carries_it_on(
    english_alice, chat_server
):
    """WCAG 2.2.1 for the absolute lifetime (SESSION_ABSOLUTE_LIFETIME_SECONDS): five minutes
    before, the time it ends and a link that signs in again in another tab; the console page
    stays as it was and goes on with the new sign-in."""
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.clock.install()
        test_console._sign_in(page, chat_server, "alice")
        expect(page.locator("#conn")).to_have_text("Connected")
        session = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
        signed_in_at = _login_at(session)
        page.evaluate("window.keptState = 'unchanged'")
        ending = page.locator("#signin-end")
        expect(ending).to_be_hidden()
        lifetime = settings.SESSION_ABSOLUTE_LIFETIME_SECONDS
        # The time left is counted from the page's load, a few seconds after the sign-in.
        page.clock.fast_forward((lifetime - 330) * 1000)
        expect(ending).to_be_hidden()
        page.clock.fast_forward(40_000)
        expect(ending).to_be_visible()
        expect(ending).to_contain_text(
            re.compile(r"Your sign-in ends at \d\d:\d\d\. Sign in again to keep working")
        )
        expect(page.locator("#alert")).to_contain_text("Your sign-in ends at")
        assert serious(page) == []

        again = page.get_by_role("link", name="Sign in again (opens a new tab)")
        with context.expect_page() as opened:
            again.click()
        signin = opened.value
        signin.fill("#id_username", "alice")
        signin.fill("#id_password", PASSWORD)
        signin.locator("form.card button[type=submit]").click()
        # The console's tab hears of the new sign-in: no warning, the same page, a new socket.
        expect(ending).to_be_hidden()
        expect(page.locator("#conn")).to_have_text("Connected")
        assert page.evaluate("window.keptState") == "unchanged"
        assert page.url == f"{chat_server}/console/"
        # The same account in the same session: its lifetime starts again from the new sign-in.
        assert _login_at(session) > signed_in_at
        # The old end passes without a warning: the new sign-in has its own lifetime.
        page.clock.fast_forward(600_000)
        expect(ending).to_be_hidden()
        expect(page.locator("#conn")).to_have_text("Connected")
        context.close()
