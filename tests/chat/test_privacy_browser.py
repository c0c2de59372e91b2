"""In a real browser: the notice and the request pages are accessible and work by keyboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from chat.models import AuditEvent, ControllerDetails
from tests.conftest import PASSWORD, chromium
from tests.dsr.test_data_requests import SECRET_TEXT, full_conversation, rows_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# Tests list chat_server before browser_page: the server is forked from this process, and a fork
# taken while Playwright runs broke the PostgreSQL connections of the tests that followed.
@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code, so Django's async-safety guard does not apply to them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        # CSP violations and script errors show up as console errors; failed loads by URL.
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        yield page, errors
        browser.close()


def _no_violations(page) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def four_months(settings):
    # Requested before chat_server, so the forked server serves this value.
    settings.CHAT_RETENTION_MONTHS = 4


def test_the_notice_is_accessible_in_each_language_and_switches_by_keyboard(
    four_months, chat_server, browser_page
):
    ControllerDetails.objects.create(
        controller_name="Example Study Centre ry", email="office@example.org"
    )
    base = chat_server
    page, errors = browser_page

    page.goto(f"{base}/privacy/?lang=fi")
    assert page.locator("html").get_attribute("lang") == "fi"
    assert "4 kuukautta" in page.locator("main").inner_text()
    _no_violations(page)

    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "På svenska":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**lang=sv")
    assert page.locator("html").get_attribute("lang") == "sv"
    assert "4 månader" in page.locator("main").inner_text()
    _no_violations(page)

    page.get_by_role("link", name="In English").click()
    page.wait_for_url("**lang=en")
    assert "4 months" in page.locator("main").inner_text()
    assert page.get_by_role("heading", name="Retention period").is_visible()
    _no_violations(page)
    assert errors == []


def test_a_director_finds_exports_and_erases_a_conversation_in_the_browser(
    dana, chat_server, browser_page
):
    from agents.services import guidance_acknowledge, language_set

    # Visitor data is shown only to staff who have acknowledged the current guidance.
    guidance_acknowledge(user=dana, actor_ip=None)
    language_set(user=dana, language="en")
    conv = full_conversation()
    base = chat_server
    page, errors = browser_page

    page.goto(f"{base}/console/requests/")
    page.wait_for_url("**/console/login/**")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.goto(f"{base}/console/requests/")
    _no_violations(page)

    page.get_by_label("Conversation reference").fill(conv.reference.lower())
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=conv.reference).click()
    assert SECRET_TEXT not in page.content()
    _no_violations(page)

    page.locator("#export-heading + p + form").get_by_label("Request identifier").fill("DSR-1")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download export").click()
    download = download_info.value
    assert download.suggested_filename == f"chat-{conv.reference}.json"
    exported = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert exported["messages"][0]["text"] == SECRET_TEXT

    erase = page.locator("#erase-heading + p + form")
    erase.get_by_label("Request identifier").fill("DSR-2")
    erase.get_by_role("checkbox").check()
    erase.get_by_role("button", name="Erase conversation").click()
    page.wait_for_url("**/console/requests/")
    assert f"Conversation {conv.reference} erased" in page.locator("[role=status]").inner_text()
    assert set(rows_of(conv.pk).values()) == {0}
    actions = sorted(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("search") == 1
    assert actions.count("export") == 1 and actions.count("erasure") == 1
    assert errors == []
