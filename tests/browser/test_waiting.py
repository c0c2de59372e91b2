"""The visitor panel while waiting and when nobody is there, in a real browser, in fi/sv/en on a
desktop and a phone: where keyboard focus lands, queue position and estimate, messages left
out of hours. The host site and the agent's socket are test_widget's."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser import test_widget as widget

# test_widget's fixtures: a host site on another origin, Alice online, opening hours.
host_site, site, agent, monday_hours = (
    widget.host_site,
    widget.site,
    widget.agent,
    widget.monday_hours,
)


def _audit(target) -> list[str]:
    """Every axe violation, whatever its impact."""
    return [v["id"] for v in Axe().run(target).response["violations"]]


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=20_000)

LAUNCHER = {"fi": "Avaa chat", "sv": "Öppna chatten", "en": "Open chat"}
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True},
}
LANGS_AND_SCREENS = [(lang, screen) for lang in ("fi", "sv", "en") for screen in VIEWPORTS]


def _panel_frame(page):
    return next(f for f in page.frames if "/widget/panel/" in f.url)


def _tab_to_launcher(page, lang: str):
    launcher = page.get_by_role("button", name=LAUNCHER[lang])
    expect(launcher).to_be_visible()
    for _ in range(5):
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b.getRootNode().activeElement === b"):
            return launcher
    pytest.fail("the launcher is not reachable with Tab")


@pytest.mark.parametrize(("lang", "screen"), LANGS_AND_SCREENS)
def test_opening_the_panel_by_keyboard_with_nobody_online_focuses_a_visible_named_control(
    monday_hours, site, browser, lang, screen
):
    _, _, write = site
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.goto(write(f"focus-{lang}.html", title="Focus", lang=lang))
    _tab_to_launcher(page, lang)
    page.keyboard.press("Enter")
    panel = page.frame_locator("iframe[title='Chat']")
    # The welcome has said nobody is online: whatever had focus before it must still be usable.
    expect(panel.locator("#hc-offline")).to_be_visible()
    expect(panel.get_by_role("list")).to_have_count(1)
    focused = panel.locator(":focus")
    expect(focused).to_have_count(1)
    expect(focused).to_be_visible()
    expect(focused).to_be_enabled()
    expect(focused).to_have_accessible_name(re.compile(r"\S"))
    frame = _panel_frame(page)
    assert frame.evaluate("document.activeElement !== document.body")
    # Focus is inside the chat's frame, not left on the host page.
    assert page.evaluate("document.activeElement.tagName") == "DIV"
    assert _audit(frame) == []
    context.close()
