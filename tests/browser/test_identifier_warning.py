"""The widget warns before a visitor sends what looks like an identifier, in fi, sv and en, and
shows the message as stored: the number hidden behind a marked placeholder."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.axe import serious
from tests.browser.test_widget import (  # noqa: F401  fixtures shared with the widget's tests
    agent,
    host_site,
    site,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CASES = [
    (
        "fi",
        "Tämä näyttää henkilötunnukselta. Se piilotetaan, kun lähetät viestin.",
        "[henkilötunnus]",
    ),
    (
        "sv",
        "Det här ser ut som en personbeteckning. Det döljs när du skickar meddelandet.",
        "[personbeteckning]",
    ),
    (
        "en",
        "This looks like a personal identity code. It will be hidden when you send the message.",
        "[personal identity code]",
    ),
]


@pytest.mark.parametrize(("lang", "warning", "placeholder"), CASES, ids=[c[0] for c in CASES])
def test_the_widget_warns_before_sending_and_shows_the_code_hidden(
    agent,  # noqa: F811
    site,  # noqa: F811
    browser,
    lang,
    warning,
    placeholder,
):
    _, _, write = site
    page = browser.new_page()
    page.goto(write(f"{lang}.html", title="Kurssit", lang=lang))
    page.get_by_role("button").first.click()
    panel = page.frame_locator("iframe[title='Chat']")
    box = panel.locator("#hc-input")
    expect(box).to_be_focused()
    note = panel.locator("#hc-idwarn")
    expect(note).to_be_hidden()
    box.press_sequentially("Hetu 131052-308T, puh 040 123 4567")
    # Before anything is sent: a status message tied to the message box.
    expect(note).to_be_visible()
    expect(note).to_have_text(warning)
    expect(note).to_have_attribute("role", "status")
    expect(box).to_have_attribute("aria-describedby", "hc-idwarn")
    assert serious(next(f for f in page.frames if "/widget/panel/" in f.url)) == []
    # A phone number alone is no reason to warn.
    box.fill("puh 040 123 4567")
    box.press_sequentially(" ")
    expect(note).to_be_hidden()
    box.fill("")
    box.press_sequentially("Hetu 131052-308T")
    expect(note).to_be_visible()
    box.press("Enter")
    expect(note).to_be_hidden()
    mine = panel.locator(".msg.mine").first
    expect(mine.locator(".state")).not_to_have_text("")
    # Shown as stored: the number is gone from the page, a marked placeholder stands for it.
    expect(mine.locator(".text")).to_have_text(f"Hetu {placeholder}")
    expect(mine.locator(".id-mask")).to_have_text(placeholder)
    assert "131052" not in panel.locator("#hc-log").inner_text()
    added = agent.wait("queue.added")
    assert added["conversation"]["first_message"] == "Hetu \ue000pic\ue001"
    assert serious(next(f for f in page.frames if "/widget/panel/" in f.url)) == []
    page.close()


def test_the_console_shows_a_hidden_code_as_a_marked_placeholder_in_the_agents_language(
    alice, chat_server
):
    from agents.services import guidance_acknowledge, profile_get
    from tests.browser.test_console import Visitor, _sign_in
    from tests.conftest import chromium as launch

    profile = profile_get(user=alice)
    profile.language = "sv"
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)
    with launch() as chromium:
        try:
            console = chromium.new_page()
            _sign_in(console, chat_server, "alice")
            expect(console.locator("#conn")).to_have_text("Ansluten")
            console.select_option("#presence", "online")
            visitor = Visitor(chat_server)
            visitor.send({"type": "hello"})
            visitor.until(lambda f: f.get("agents_online") is True)
            page = {"url": "https://www.example.org/131052-308T", "title": "Hetu 131052-308T"}
            visitor.send(
                {
                    "type": "conversation.start",
                    "text": "Min personbeteckning är 131052-308T",
                    "client_msg_id": "v1",
                    "page": page,
                }
            )
            visitor.until(lambda f: f["type"] == "conversation.started")
            item = console.locator("#queue .queue-item")
            expect(item).to_contain_text("Min personbeteckning är [personbeteckning]")
            item.get_by_role("button").click()
            message = console.locator("#log .msg.visitor .text").first
            expect(message).to_have_text("Min personbeteckning är [personbeteckning]")
            mark = message.locator(".id-mask")
            expect(mark).to_have_text("[personbeteckning]")
            expect(mark).to_have_attribute(
                "title",
                "Dold av chatten: det såg ut som en identifierare och sparades därför inte.",
            )
            expect(console.locator("#panel-pages")).to_contain_text("Hetu [personbeteckning]")
            assert "131052" not in console.locator("body").inner_text()
            assert serious(console) == []
        finally:
            chromium.close()
