"""The console in a real browser through a Redis outage: it says so, and when Redis is back it
catches up by itself (no reload, no reconnect) and shows what was sent meanwhile once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_console import Visitor
from tests.conftest import chromium
from tests.faults.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.services]

# The demo agent's console speaks Finnish: "Connection to live updates is disturbed; messages are
# saved and will appear shortly."
NOTICE = "Yhteys reaaliaikaisiin päivityksiin on häiriintynyt; viestit tallentuvat ja näkyvät pian."


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(
        tmp_path_factory.mktemp("outage-browser"), env={"CHAT_LAYER_PROBE_SECONDS": "1"}
    )
    try:
        yield running
    finally:
        running.stop()


def test_the_console_shows_a_redis_outage_and_recovers_by_itself(stack):
    cookies = [
        {"name": name, "value": value, "url": stack.url}
        for name, value in (pair.split("=", 1) for pair in stack.login("agent").split("; "))
    ]
    with chromium() as browser:
        try:
            context = browser.new_context()
            context.add_cookies(cookies)
            # Any second socket would mean a reconnect: the catch-up must happen on the first.
            sockets = []
            agent = context.new_page()
            agent.on("websocket", lambda ws: sockets.append(ws))
            agent.goto(f"{stack.url}/console/")
            expect(agent.locator("#conn")).to_have_class(re.compile(r"\bok\b"))
            agent.select_option("#presence", "online")
            visitor = Visitor(stack.url)
            visitor.send({"type": "hello"})
            visitor.until(
                lambda f: (
                    f.get("agents_online") is True and f["type"] in ("welcome", "availability")
                )
            )
            visitor.send({"type": "conversation.start", "text": "Hello?", "client_msg_id": "v1"})
            visitor.until(lambda f: f["type"] == "conversation.started")
            agent.locator("#queue .queue-item button").click()
            expect(agent.locator("#log")).to_contain_text("Hello?")
            expect(agent.locator("#degraded")).to_be_empty()

            stack.redis.cut()
            expect(agent.locator("#degraded")).to_have_text(NOTICE, timeout=15000)
            expect(agent.locator("#degraded")).to_have_attribute("role", "status")
            # Stored while no event can reach the console.
            visitor.send({"type": "message.send", "text": "Still there?", "client_msg_id": "v2"})
            visitor.until(lambda f: f["type"] == "message.ack")
            agent.fill("#text", "Typed during the outage.")
            agent.press("#text", "Enter")
            expect(agent.locator("#log li.pending")).to_have_count(0)

            stack.redis.restore()
            expect(agent.locator("#degraded")).to_be_empty(timeout=30000)
            expect(agent.locator("#log")).to_contain_text("Still there?")
            expect(agent.locator("#log li", has_text="Still there?")).to_have_count(1)
            expect(agent.locator("#log li", has_text="Typed during the outage.")).to_have_count(1)
            expect(agent.locator("#log li", has_text="Hello?")).to_have_count(1)
            assert len(sockets) == 1 and not sockets[0].is_closed()
            visitor.ws.close()
        finally:
            browser.close()
