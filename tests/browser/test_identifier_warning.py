"""The widget warns before a visitor sends what looks like an identifier, in fi, sv and en, and
shows the message as stored: the number hidden behind a marked placeholder."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_widget import (  # noqa: F401  fixtures shared with the widget's tests
    _audit,
    agent,
    browser,
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
    browser,  # noqa: F811
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
    assert _audit(next(f for f in page.frames if "/widget/panel/" in f.url)) == []
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
    assert _audit(next(f for f in page.frames if "/widget/panel/" in f.url)) == []
    page.close()
