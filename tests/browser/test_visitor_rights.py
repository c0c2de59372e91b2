"""A visitor downloads and deletes their own chat from the widget, in fi, sv and en.

The widget is embedded in a host site on another origin (as on a customer's site); the agent
answers from the real console in another browser context. Keyboard only, axe clean; after the
erasure a scan of every table and of Redis finds nothing of the chat but the audit rows.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import expect

from agents.services import guidance_acknowledge, profile_get
from chat.models import AuditEvent
from tests.browser import test_widget
from tests.browser.axe import serious
from tests.browser.test_console import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The widget's shared fixtures: a host site on another origin, the chat server, the browser.
host_site = test_widget.host_site
site = test_widget.site

expect.set_options(timeout=20_000)

WORDS = {
    "fi": {
        "open": "Avaa chat",
        "download": "Lataa keskustelu",
        "delete": "Poista keskustelu",
        "text_file": "Luettava teksti (.txt)",
        "json_file": re.compile(r"\.json\)$"),
        "messages": "VIESTIT",
        "ip": "IP-osoite 127.0.0.1",
        "joined": "Alice Agent liittyi keskusteluun",
        "confirm": "Poista lopullisesti",
        "cancel": "Peruuta",
        "deleted": "Tämä keskustelu on poistettu.",
        "console_erased": "Kävijä poisti tämän keskustelun; siitä ei säily mitään.",
    },
    "sv": {
        "open": "Öppna chatten",
        "download": "Ladda ned samtalet",
        "delete": "Radera samtalet",
        "text_file": "Läsbar text (.txt)",
        "json_file": re.compile(r"\.json\)$"),
        "messages": "MEDDELANDEN",
        "ip": "IP-adress 127.0.0.1",
        "joined": "Alice Agent anslöt till chatten",
        "confirm": "Radera för gott",
        "cancel": "Avbryt",
        "deleted": "Det här samtalet har raderats.",
        "console_erased": "Besökaren raderade det här samtalet; inget av det sparas.",
    },
    "en": {
        "open": "Open chat",
        "download": "Download the conversation",
        "delete": "Delete the conversation",
        "text_file": "Readable text (.txt)",
        "json_file": re.compile(r"\.json\)$"),
        "messages": "MESSAGES",
        "ip": "IP address 127.0.0.1",
        "joined": "Alice Agent joined the chat",
        "confirm": "Delete for good",
        "cancel": "Cancel",
        "deleted": "This conversation has been deleted.",
        "console_erased": "The visitor erased this conversation; nothing of it is kept.",
    },
}


def _tab_to(page, frame_locator, name: str, limit: int = 30) -> None:
    """Presses Tab until the button called `name` in the panel has focus (keyboard only)."""
    button = frame_locator.get_by_role("button", name=name, exact=True)
    for _ in range(limit):
        if button.evaluate("b => document.activeElement === b"):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{name!r} is not reachable with Tab")


def _leftovers(needles: list[str]) -> list[str]:
    """Every table row (as text) that still holds one of `needles`, but the audit log's."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table == AuditEvent._meta.db_table:
                continue
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 (introspected names)
            found += [
                f"{table}: {row[0][:80]}"
                for row in cursor.fetchall()
                if any(n in row[0] for n in needles)
            ]
    return found


def _redis_leftovers(needles: list[str]) -> list[str]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for key in client.scan_iter(count=1000):
        name = key.decode(errors="replace")
        value = b""
        if client.type(key) == b"string":
            value = client.get(key) or b""
        text = name + value.decode(errors="replace")
        found += [name for n in needles if n in text]
    return found


def _off_the_loop(func, *args):
    """Runs ORM work in a thread of its own: Playwright's event loop runs in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func, *args).result()


@pytest.fixture
def console_user(alice, request):
    """Alice, who has read the guidance, with her console in the test's language. Made before
    the browser starts: the ORM must not run inside Playwright's event loop."""
    profile = profile_get(user=alice)
    profile.language = request.node.callspec.params["lang"]
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)
    return alice


def _audit_rows(ref: str) -> dict[str, AuditEvent]:
    return {
        e.action: e
        for e in AuditEvent.objects.filter(object_ref=ref)
        if e.action in (AuditEvent.Action.ERASURE, AuditEvent.Action.EXPORT)
    }


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_visitor_downloads_and_deletes_their_chat_with_the_keyboard(
    lang, console_user, site, browser
):
    _host, chat, write = site
    words = WORDS[lang]
    secret = f"Kurssimaksu {lang}: opiskelijanumero 7654321"
    url = write(f"rights-{lang}.html", title="Kurssit", lang=lang)

    # Alice online in her console.
    staff = browser.new_context()
    console = staff.new_page()
    _sign_in(console, chat, "alice")
    expect(console.locator("#conn")).to_have_class(re.compile(r"\bok\b"))
    console.select_option("#presence", "online")

    visitor = browser.new_context(accept_downloads=True)
    page = visitor.new_page()
    page.goto(url)
    launcher = page.get_by_role("button", name=words["open"])
    launcher.click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-input")).to_be_focused()
    page.keyboard.type(secret)
    page.keyboard.press("Enter")
    expect(panel.locator(".msg.mine .state")).to_have_count(1)
    reference = panel.locator("#hc-ref-value")
    expect(reference).to_have_text(re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$"))
    ref = reference.text_content()

    console.locator("#queue .queue-item button").click()
    expect(console.locator("#log")).to_contain_text(secret)
    expect(panel.locator(".msg.system")).to_have_text(words["joined"])

    # Download, keyboard only: the dialog offers both files, in the chat's language.
    page.keyboard.press("Shift+Tab")
    _tab_to(page, panel, words["download"])
    page.keyboard.press("Enter")
    text_link = panel.get_by_role("link", name=words["text_file"])
    expect(text_link).to_be_focused()
    chat_frame = next(f for f in page.frames if f.url.startswith(chat))
    assert serious(chat_frame) == []
    with page.expect_download() as got:
        page.keyboard.press("Enter")
    text = got.value.path().read_text(encoding="utf-8")
    assert got.value.suggested_filename == f"chat-{ref}.txt"
    assert secret in text and words["messages"] in text and words["ip"] in text
    assert words["joined"] in text
    page.keyboard.press("Tab")
    expect(panel.get_by_role("link", name=words["json_file"])).to_be_focused()
    with page.expect_download() as got:
        page.keyboard.press("Enter")
    data = json.loads(got.value.path().read_text(encoding="utf-8"))
    assert data["language"] == lang and data["conversation"]["reference"] == ref
    assert data["connections"][0]["ip_address"] == "127.0.0.1"
    assert [m["text"] for m in data["messages"] if m["sender"] == "visitor"] == [secret]
    assert data["pages"][0]["url"] == url
    # Escape closes the dialog, not the panel; focus goes back to the button.
    page.keyboard.press("Escape")
    expect(panel.get_by_role("button", name=words["download"], exact=True)).to_be_focused()
    expect(page.locator("iframe[title='Chat']")).to_be_visible()

    # Delete: the confirmation says what goes; the safe choice has focus.
    _tab_to(page, panel, words["delete"])
    page.keyboard.press("Enter")
    expect(panel.get_by_role("button", name=words["cancel"])).to_be_focused()
    expect(panel.get_by_role("dialog")).to_contain_text("IP")
    assert serious(chat_frame) == []
    page.keyboard.press("Shift+Tab")
    expect(panel.get_by_role("button", name=words["confirm"])).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel.locator("#hc-status")).to_have_text(words["deleted"])
    expect(panel.locator(".msg")).to_have_count(0)
    expect(panel.locator("#hc-ref")).to_be_hidden()
    expect(panel.locator("#hc-input")).to_be_focused()
    assert page.evaluate("localStorage.getItem('helaoChat')") is None
    # The token is gone from the browser too (a partitioned cookie, third-party storage blocked).
    assert [c for c in visitor.cookies() if c["name"] == "helao_visitor" and c["value"]] == []
    assert serious(chat_frame) == []

    # The agent's console shows the chat ended as erased by the visitor, and nothing of it.
    expect(console.locator("#chat-closed-text")).to_have_text(words["console_erased"])
    expect(console.locator("#log")).not_to_contain_text(secret)
    assert serious(console) == []

    staff.close()
    visitor.close()
    # Nothing of the chat anywhere but the audit rows, which hold counts only.
    assert _off_the_loop(_leftovers, [secret, ref, url]) == []
    assert _redis_leftovers([secret, ref]) == []
    rows = _off_the_loop(_audit_rows, ref)
    erasure, export = rows[AuditEvent.Action.ERASURE], rows[AuditEvent.Action.EXPORT]
    assert erasure.detail["by"] == "visitor" and erasure.actor_ip is None
    assert erasure.detail["deleted"]["chat.message"] >= 2
    assert secret not in json.dumps(erasure.detail)
    assert export.detail["rows"]["messages"] >= 2 and export.actor_ip is None
