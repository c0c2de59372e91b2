"""Embedding across sites in a real browser: the host page on http://127.0.0.2, the chat on
http://127.0.0.1 (two sites, as a chat server shared by an organisation's domains would be).

A site outside CHAT_EMBED_ORIGINS sees why; an allowed one keeps the conversation across pages
wherever the browser gives the chat's frame any storage of its own.
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import test_widget
from tests.browser.axe import serious
from tests.conftest import chromium_profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=20_000)


def _serve(root: Path, address: str = "127.0.0.2"):
    """A static site on http://ADDRESS:PORT serving `root`; returns (origin, server)."""
    server = ThreadingHTTPServer((address, 0), partial(test_widget._Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{address}:{server.server_address[1]}", server


@pytest.fixture
def other_site(tmp_path):
    """A host site the chat does not list in CHAT_EMBED_ORIGINS."""
    origin, server = _serve(tmp_path)
    yield origin, tmp_path
    server.shutdown()
    server.server_close()


def _page(root: Path, chat: str, name: str, *, title: str, next_page: str = "", lang="en") -> str:
    html = test_widget.HOST_PAGE.format(
        lang=lang, title=title, next=next_page or name, chat=chat, attrs=""
    )
    Path(root, name).write_text(html, encoding="utf-8")
    return name


def test_a_site_that_may_not_embed_the_chat_shows_why_and_logs_the_setting(
    settings, other_site, chat_server, browser
):
    origin, root = other_site
    _page(root, chat_server, "shop.html", title="Shop")
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    # The loader's clock, so that its 15-second give-up can be passed without waiting.
    page.clock.install()
    page.goto(f"{origin}/shop.html")
    launcher = test_widget._launcher(page)
    launcher.click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.get_by_text("The chat is not available on this website.")).to_be_visible()
    expect(panel.get_by_text(f"this website ({origin}) is not listed")).to_be_visible()
    expect(panel.get_by_role("button", name="Minimise chat")).to_be_focused()
    logged = [e for e in errors if "CHAT_EMBED_ORIGINS" in e]
    assert len(logged) == 1 and f"Add {origin} to CHAT_EMBED_ORIGINS" in logged[0]
    assert serious(next(f for f in page.frames if "/widget/panel/" in f.url)) == []

    # The launcher stays: no dead button that vanishes.
    page.clock.fast_forward("00:30")
    page.keyboard.press("Escape")
    expect(launcher).to_be_focused()
    launcher.click()
    expect(panel.get_by_text("The chat is not available on this website.")).to_be_visible()
    # Nothing was stored on either side.
    assert page.context.cookies() == []
    assert page.evaluate("localStorage.length") == 0
    page.close()


@pytest.fixture
def shared_site(settings, tmp_path):
    """A host site on another site than the chat, listed in CHAT_EMBED_ORIGINS (requested
    before chat_server, so the forked server has it)."""
    root = tmp_path / "site"
    root.mkdir()
    origin, server = _serve(root)
    settings.CHAT_EMBED_ORIGINS = [origin]
    yield origin, root
    server.shutdown()
    server.server_close()


# What the browser lets the chat's frame keep, as its profile decides.
STORAGE = {
    # Third-party cookies allowed: the frame has its localStorage.
    "allowed": {"profile": {"cookie_controls_mode": 0}},
    # Blocked (Chromium's default in incognito, and Playwright's contexts): a partitioned cookie.
    "blocked": {"profile": {"cookie_controls_mode": 1}},
    # Every cookie blocked: nothing at all.
    "none": {"profile": {"default_content_setting_values": {"cookies": 2}}},
}
EPHEMERAL = "it lasts only while this page is open"


@pytest.mark.parametrize("storage", ["allowed", "blocked"])
def test_a_chat_embedded_across_sites_follows_the_visitor_to_the_next_page_and_a_reload(
    agent_online, shared_site, chat_server, tmp_path, storage
):
    origin, root = shared_site
    _page(root, chat_server, "a.html", title="Courses", next_page="b.html")
    _page(root, chat_server, "b.html", title="Prices", next_page="a.html")
    with chromium_profile(tmp_path / "profile", STORAGE[storage]) as context:
        page = context.new_page()
        page.goto(f"{origin}/a.html")
        test_widget._launcher(page).click()
        panel = page.frame_locator("iframe[title='Chat']")
        expect(panel.locator("#hc-input")).to_be_focused()
        expect(panel.get_by_text(EPHEMERAL)).to_be_hidden()
        panel.locator("#hc-input").fill("Do you have evening courses?")
        panel.locator("#hc-input").press("Enter")
        expect(panel.locator(".msg.mine .state")).to_have_text("Sent")
        reference = panel.locator("#hc-ref-value").inner_text()

        # The next page of the site: the panel comes back open with the conversation.
        page.get_by_role("link", name="Next page").click()
        expect(page).to_have_title("Prices")
        panel = page.frame_locator("iframe[title='Chat']")
        expect(panel.locator(".msg.mine .text")).to_have_text("Do you have evening courses?")
        expect(panel.locator("#hc-ref-value")).to_have_text(reference)

        page.reload()
        panel = page.frame_locator("iframe[title='Chat']")
        expect(panel.locator(".msg.mine .text")).to_have_text("Do you have evening courses?")

        # The host page holds only the loader's open/minimised flag, never the token.
        assert page.evaluate("document.cookie") == ""
        assert page.evaluate("Object.keys(localStorage)") == ["helaoChat"]
        kept = [c for c in context.cookies() if c["name"] == "helao_visitor"]
        if storage == "blocked":
            assert [(c["domain"], c.get("partitionKey")) for c in kept] == [
                ("127.0.0.1", "http://127.0.0.2")
            ]
        else:
            assert kept == []


def test_where_the_browser_keeps_nothing_the_panel_says_so_before_the_visitor_writes(
    agent_online, shared_site, chat_server, tmp_path
):
    origin, root = shared_site
    _page(root, chat_server, "a.html", title="Courses", next_page="b.html")
    _page(root, chat_server, "b.html", title="Prices", next_page="a.html")
    with chromium_profile(tmp_path / "profile", STORAGE["none"]) as context:
        page = context.new_page()
        page.goto(f"{origin}/a.html")
        test_widget._launcher(page).click()
        panel = page.frame_locator("iframe[title='Chat']")
        expect(panel.locator("#hc-input")).to_be_focused()
        expect(panel.get_by_text(EPHEMERAL)).to_be_visible()
        # The chat itself works while the page is open.
        panel.locator("#hc-input").fill("Just a quick question")
        panel.locator("#hc-input").press("Enter")
        expect(panel.locator(".msg.mine .state")).to_have_text("Sent")
        assert context.cookies() == []

        # The loader is not told to resume what cannot be resumed: the next page is quiet.
        page.get_by_role("link", name="Next page").click()
        expect(page).to_have_title("Prices")
        expect(test_widget._launcher(page)).to_be_visible()
        assert page.locator("iframe").count() == 0
