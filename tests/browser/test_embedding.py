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
    assert test_widget._audit(next(f for f in page.frames if "/widget/panel/" in f.url)) == []

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
