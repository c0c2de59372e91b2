"""A queue of 5,000 waiting chats in the console, and a chat of 500 messages of 4,000 characters
in the widget after a reload: both arrive in pages below the socket's frame limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from agents.services import guidance_acknowledge
from chat.models import Conversation, Message
from tests.browser.test_widget import (  # noqa: F401 - fixtures
    _open_panel,
    agent,
    host_site,
    site,
)
from tests.conftest import PASSWORD
from tests.paging import waiting_chats

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# 4,000 characters of Finnish with an emoji: 1-, 2- and 4-byte UTF-8.
LONG_TEXT = ("Hyvää päivää, tässä pitkä vastaus 😀 " * 120)[:4000]


@pytest.fixture
def long_queue(alice):
    """5,000 waiting chats, and Alice past the guidance (before the browser: the ORM may not run
    inside Playwright's event loop)."""
    guidance_acknowledge(user=alice, actor_ip=None)
    return waiting_chats(5000, first_text="Tarvitsen apua laskun kanssa")


def test_the_console_shows_a_queue_of_5000_waiting_chats(long_queue, chat_server, browser):
    page = browser.new_context().new_page()
    page.goto(f"{chat_server}/console/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.locator("form.card button[type=submit]").click()
    expect(page.locator("#conn.ok")).to_be_visible()
    # Pages follow one another; the count is a lower bound ("N+") until the last.
    expect(page.locator("#queue-count")).to_have_text("5000", timeout=120_000)
    expect(page.locator("#queue .queue-item")).to_have_count(5000)
    expect(page.locator("#queue")).to_have_attribute("aria-busy", "false")


def _add_history(count: int) -> int:
    """`count` long agent replies in the visitor's chat (from another thread: the ORM may not run
    inside Playwright's event loop)."""

    def add() -> int:
        conversation = Conversation.objects.get()
        Message.objects.bulk_create(
            Message(
                conversation=conversation,
                sender=Message.Sender.AGENT,
                author_name="Alice Agent",
                text=LONG_TEXT,
            )
            for _ in range(count)
        )
        return conversation.messages.count()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(add).result()


def test_the_widget_shows_a_chat_of_500_long_messages_after_a_reload(agent, site, browser):  # noqa: F811
    write = site[2]
    url = write("page1.html", title="Courses")
    context = browser.new_context()
    page, panel = _open_panel(context, url)
    panel.locator("#hc-input").fill("Hei, onko kurssilla tilaa?")
    panel.locator("#hc-input").press("Enter")
    expect(panel.locator("#hc-ref")).to_be_visible()
    total = _add_history(500)
    assert total == 501

    page.reload()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-log .msg")).to_have_count(total, timeout=120_000)
    expect(panel.locator("#hc-log .msg.agent")).to_have_count(500)
    expect(panel.locator("#hc-log .msg.agent").last).to_contain_text(LONG_TEXT[:40])
