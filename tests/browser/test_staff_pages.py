"""The staff pages in a real browser: each role's header offers exactly the pages it can open
and every one of them opens; dates read as the staff member's language writes them; every
staff page is axe-clean and fits a 1280-pixel screen (wide tables scroll in their own frame)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from playwright.sync_api import expect

from agents.roles import TEAM_LEAD
from agents.services import language_set
from tests.browser.axe import violations
from tests.conftest import _user
from tests.test_staff_pages import EXPECTED, PAGES, staff_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _session(user, language: str) -> str:
    language_set(user=user, language=language)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def people(settings, alice, dana, charlie, roles):
    """Made before the browser starts: the ORM must not run inside Playwright's event loop."""
    settings.CHAT_REQUIRE_2FA = "off"
    tove = _user("tove", first="Tove", last="Lead")
    tove.groups.add(Group.objects.get(name=TEAM_LEAD))
    world = staff_world(alice, tove, dana, charlie)
    users = {"alice": alice, "tove": tove, "dana": dana, "charlie": charlie}
    return {
        "reference": world["closed"].reference,
        "sessions": {name: _session(user, "fi") for name, user in users.items()},
    }


def _page(browser, base: str, session: str, **options):
    context = browser.new_context(**options)
    context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
    return context.new_page()


def _nav_links(page) -> dict[str, str]:
    nav = page.locator("nav.staff-nav, header.topbar nav").first
    links = nav.get_by_role("link")
    return {
        links.nth(i).get_attribute("href"): links.nth(i).inner_text() for i in range(links.count())
    }


@pytest.mark.parametrize("who", ["alice", "tove", "dana", "charlie"])
def test_each_role_sees_the_pages_it_may_open_and_each_of_them_opens(
    people, chat_server, browser, who
):
    page = _page(browser, chat_server, people["sessions"][who])
    expected = {PAGES[key] for key in EXPECTED[who]}
    page.goto(chat_server + sorted(expected, key=list(PAGES.values()).index)[0])
    links = _nav_links(page)
    assert set(links) == expected
    for href in links:
        response = page.goto(chat_server + href)
        assert response.status == 200, href
        # The header is there on every page it leads to, with the way back.
        assert set(_nav_links(page)) == expected, href
        current = page.locator('nav [aria-current="page"]')
        expect(current).to_have_attribute("href", href)
    for key, url in PAGES.items():
        if key not in EXPECTED[who]:
            assert page.goto(chat_server + url).status in (403, 404), url


@pytest.mark.parametrize(
    ("language", "shown"),
    [("fi", "6.12.2026 3.22"), ("sv", "2026-12-06 03:22"), ("en", "6 Dec 2026 03:22")],
)
def test_dates_read_as_the_staff_members_language_writes_them(
    people, chat_server, browser, language, shown
):
    page = _page(browser, chat_server, people["sessions"]["dana"], locale="en-US")
    _choose_language(page, chat_server, language)
    for url in ("/console/history/", "/console/access/audit/"):
        page.goto(chat_server + url)
        expect(page.locator("html")).to_have_attribute("lang", language)
        moment = page.locator('time[datetime="2026-12-06T03:22:00+02:00"]').first
        expect(moment).to_have_text(shown)
    page.goto(f"{chat_server}/console/history/{people['reference']}/")
    expect(page.locator("main .muted").first).to_contain_text(shown)
    # The browser asks for American English; the page still speaks the staff member's choice.
    assert "a.m." not in page.content() and "Dec." not in page.content()


def _choose_language(page, base: str, language: str) -> None:
    """Through the header's language form, from the reports page (back to the same page)."""
    page.goto(f"{base}/reports/")
    page.locator("#lang-select").select_option(language)
    page.locator("#lang-select ~ button").click()
    expect(page).to_have_url(f"{base}/reports/")
    expect(page.locator("html")).to_have_attribute("lang", language)


@pytest.mark.parametrize("language", ["fi", "en"])
def test_every_staff_page_is_axe_clean_and_fits_a_1280_pixel_screen(
    people, chat_server, browser, language
):
    page = _page(
        browser, chat_server, people["sessions"]["dana"], viewport={"width": 1280, "height": 800}
    )
    _choose_language(page, chat_server, language)
    reference = people["reference"]
    urls = [
        *(url for key, url in PAGES.items() if key != "admin"),
        f"/console/history/{reference}/",
        f"/console/requests/{reference}/",
        "/reports/?period=day&from=2026-01-01&to=2026-12-06",
    ]
    for url in urls:
        assert page.goto(chat_server + url).status == 200, url
        assert violations(page) == [], url
        # Nothing pushes the page sideways; a wide table scrolls inside its own frame.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, (url, width)
        for frame in page.locator(".table-scroll").all():
            fits = frame.evaluate(
                "el => el.scrollWidth <= el.clientWidth"
                " || getComputedStyle(el).overflowX === 'auto'"
            )
            assert fits, url
    # The reports' widest table really scrolls, and is reachable by keyboard to do so.
    page.goto(chat_server + "/reports/?period=day&from=2026-01-01&to=2026-12-06")
    by_period = page.locator(".table-scroll", has=page.locator("#by-period"))
    assert by_period.evaluate("el => el.scrollWidth > el.clientWidth")
    assert by_period.get_attribute("tabindex") == "0"
    by_period.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("el => el.scrollLeft > 0", arg=by_period.element_handle())
