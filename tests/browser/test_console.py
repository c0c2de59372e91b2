"""The console in a real browser: an agent takes, answers, follows, transfers and closes a chat.

The visitor is a plain websocket client speaking the visitor protocol, so this test depends on
the console only.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.test import Client
from playwright.sync_api import expect
from websockets.sync.client import connect

from agents.models import AgentProfile, CannedReply
from agents.services import guidance_acknowledge, profile_get
from tests.browser.axe import serious
from tests.conftest import PASSWORD, chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = {"url": "https://shop.example/cart", "title": "Shopping cart", "referrer": ""}


class Visitor:
    """The website visitor's side, over the real socket."""

    def __init__(self, base: str):
        self.ws = connect(
            base.replace("http", "ws", 1) + "/ws/visitor/", origin=base, open_timeout=10
        ).__enter__()

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame))

    def until(self, test, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the visitor did not receive the expected frame")
            frame = json.loads(self.ws.recv(timeout=remaining))
            if test(frame):
                return frame


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form.card button[type=submit]").click()


def _online_with_a_chat(context, base: str) -> tuple:
    """Alice online in a console of `context`, with a visitor's new chat taken: (page, visitor)."""
    agent = context.new_page()
    _sign_in(agent, base, "alice")
    expect(agent.locator("#conn")).to_have_text("Connected")
    agent.select_option("#presence", "online")
    visitor = Visitor(base)
    visitor.send({"type": "hello"})
    visitor.until(
        lambda f: f.get("agents_online") is True and f["type"] in ("welcome", "availability")
    )
    visitor.send(
        {"type": "conversation.start", "text": "Hello?", "client_msg_id": "v1", "page": PAGE}
    )
    visitor.until(lambda f: f["type"] == "conversation.started")
    agent.locator("#queue .queue-item button").click()
    expect(agent.locator("#log")).to_contain_text("Hello?")
    return agent, visitor


@pytest.fixture
def context_keys(settings):
    """The host context key this site passes, listed so that it is stored (set before the server
    process forks)."""
    settings.CHAT_CONTEXT_KEYS = ["customer_id"]


def test_an_agent_answers_follows_transfers_and_closes_a_chat(
    alice, bob, charlie, context_keys, chat_server
):
    base = chat_server
    for user in (alice, bob):
        profile = profile_get(user=user)
        profile.language = "en"
        profile.save(update_fields=["language"])
    guidance_acknowledge(user=bob, actor_ip=None)
    CannedReply.objects.create(
        title="Closing", shortcut="thanks", language="en", text="Thank you for chatting with us!"
    )
    CannedReply.objects.create(
        title="Kiitos", shortcut="thanks", language="fi", text="Kiitos yhteydenotosta!"
    )
    # Django refuses ORM calls while Playwright's loop runs, so the outsider's session is made now.
    intruder = Client()
    intruder.force_login(charlie)

    with chromium() as browser:
        try:
            agent = browser.new_context().new_page()
            agent.on("dialog", lambda d: d.accept())
            _sign_in(agent, base, "alice")
            # First use: the guidance comes before the queue.
            expect(agent).to_have_url(f"{base}/console/guidance/")
            agent.get_by_role("button", name="I have read the guidance").click()
            expect(agent).to_have_url(f"{base}/console/")
            expect(agent.locator("#conn")).to_have_text("Connected")
            agent.select_option("#presence", "online")

            visitor = Visitor(base)
            visitor.send({"type": "hello", "page": PAGE})
            visitor.until(
                lambda f: (
                    f.get("agents_online") is True and f["type"] in ("welcome", "availability")
                )
            )
            visitor.send(
                {
                    "type": "conversation.start",
                    "text": "Where is my parcel?",
                    "client_msg_id": "v1",
                    "page": PAGE,
                    "screen": "1280x800",
                    "context": {"customer_id": "C-42"},
                }
            )
            started = visitor.until(lambda f: f["type"] == "conversation.started")
            reference = started["conversation"]["reference"]

            item = agent.locator("#queue .queue-item")
            expect(item).to_have_count(1)
            expect(item).to_contain_text("Where is my parcel?")
            expect(item).to_contain_text("Shopping cart")
            expect(agent).to_have_title("(1) Console · helao-chat")
            # The estimate the visitor hears, next to the waiting time.
            expect(item.locator(".estimate")).to_have_text("estimate a few minutes")
            expect(agent.locator("#offline-section")).to_be_hidden()

            item.get_by_role("button").click()
            expect(agent.locator("#chat-h")).to_have_text(reference)
            expect(agent.locator("#log")).to_contain_text("Where is my parcel?")
            expect(agent.locator("#panel-facts")).to_contain_text("Shopping cart")
            expect(agent.locator("#panel-context")).to_contain_text("C-42")
            expect(agent.locator("#queue .queue-item")).to_have_count(0)

            agent.fill("#text", "Hello! Let me check.")
            agent.press("#text", "Enter")
            reply = visitor.until(
                lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent"
            )
            assert reply["message"]["author_name"] == "Alice Agent"
            assert reply["message"]["text"] == "Hello! Let me check."

            visitor.send(
                {
                    "type": "page.view",
                    "page": {"url": "https://shop.example/help", "title": "Help centre"},
                }
            )
            expect(agent.locator("#panel-facts")).to_contain_text("Help centre")
            expect(agent.locator("#panel-pages li")).to_have_count(2)
            visitor.send({"type": "typing", "active": True})
            expect(agent.locator("#typing")).to_have_text("The visitor is typing…")
            visitor.send({"type": "message.send", "text": "Thanks", "client_msg_id": "v2"})
            expect(agent.locator("#log")).to_contain_text("Thanks")

            # A canned reply in the agent's language, picked with '/'.
            agent.locator("#text").press_sequentially("/tha")
            expect(agent.locator("#canned-list [role=option]")).to_have_count(1)
            agent.press("#text", "Enter")
            expect(agent.locator("#text")).to_have_value("Thank you for chatting with us!")
            agent.press("#text", "Enter")
            canned = visitor.until(
                lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent"
            )
            assert canned["message"]["text"] == "Thank you for chatting with us!"

            # A second chat at the same time: switch between them, unread counts, keyboard.
            second = Visitor(base)
            second.send({"type": "hello", "page": PAGE})
            second.until(lambda f: f["type"] == "welcome")
            second.send(
                {
                    "type": "conversation.start",
                    "text": "Second question",
                    "client_msg_id": "w1",
                    "page": PAGE,
                }
            )
            second.until(lambda f: f["type"] == "conversation.started")
            expect(agent.locator("#queue .queue-item")).to_have_count(1)
            agent.locator("#queue .queue-item button").click()
            expect(agent.locator("#chats li")).to_have_count(2)
            expect(agent.locator("#log")).to_contain_text("Second question")
            visitor.send({"type": "message.send", "text": "Still there?", "client_msg_id": "v3"})
            expect(agent.locator("#chats li").first.locator(".badge")).to_have_text("1")
            agent.keyboard.press("Alt+1")
            expect(agent.locator("#chat-h")).to_have_text(reference)
            expect(agent.locator("#log")).to_contain_text("Still there?")
            expect(agent.locator("#chats li").first.locator(".badge")).to_have_count(0)
            agent.keyboard.press("Alt+2")
            agent.keyboard.press("Alt+E")
            second.until(lambda f: f["type"] == "conversation.closed")
            agent.get_by_role("button", name="Remove from list").click()
            expect(agent.locator("#chats li")).to_have_count(1)
            second.ws.close()
            agent.keyboard.press("Alt+1")
            expect(agent.locator("#chat-h")).to_have_text(reference)

            assert serious(agent) == []

            # A second agent comes online and takes the chat over.
            colleague = browser.new_context().new_page()
            colleague.on("dialog", lambda d: d.accept())
            _sign_in(colleague, base, "bob")
            expect(colleague).to_have_url(f"{base}/console/")
            expect(colleague.locator("#conn")).to_have_text("Connected")
            colleague.select_option("#presence", "online")
            expect(agent.locator("#transfer-to")).to_contain_text("Bob Builder")
            agent.select_option("#transfer-to", label="Bob Builder")
            agent.locator("#transfer-form button").click()
            joined = visitor.until(
                lambda f: (
                    f["type"] == "message.new"
                    and (f["message"]["event"] or {}).get("kind") == "transferred"
                )
            )
            assert joined["message"]["event"]["name"] == "Bob Builder"
            expect(agent.locator("#chats li")).to_have_count(0)
            expect(colleague.locator("#chat-h")).to_have_text(reference)
            expect(colleague.locator("#log")).to_contain_text("Hello! Let me check.")

            colleague.locator("#close-chat").click()
            visitor.until(lambda f: f["type"] == "conversation.closed")
            expect(colleague.locator("#chat-closed")).to_be_visible()
            expect(colleague.locator("#composer")).to_be_hidden()
            expect(colleague.locator("#transfer-form")).to_be_hidden()
            assert serious(colleague) == []
            visitor.ws.close()

            # Signing out in another tab ends this tab's console too.
            other_tab = agent.context.new_page()
            other_tab.goto(f"{base}/console/guidance/")
            other_tab.get_by_role("button", name="Sign out").click()
            expect(agent).to_have_url(f"{base}/console/login/?next=/console/", timeout=15000)

            # Staff without the console permission see nothing, not even with a session.
            context = browser.new_context()
            context.add_cookies(
                [{"name": "sessionid", "value": intruder.cookies["sessionid"].value, "url": base}]
            )
            outsider = context.new_page()
            response = outsider.goto(f"{base}/console/")
            assert response.status == 403
            assert reference not in outsider.content()
            assert "Where is my parcel?" not in outsider.content()
            response = outsider.goto(f"{base}/console/history/")
            assert response.status == 404
            opened = outsider.evaluate(
                """() => new Promise((resolve) => {
                    const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/agent/');
                    ws.onopen = () => resolve('open');
                    ws.onclose = () => resolve('closed');
                })"""
            )
            assert opened == "closed"
        finally:
            browser.close()

    assert AgentProfile.objects.get(user=alice).guidance_acknowledged_at is not None


# Keeps the console's sockets reachable from the test, and can hold reconnects back while the
# test changes things behind the console's back.
SOCKET_SPY = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__hold = false;
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      super(window.__hold ? url.replace('/ws/agent/', '/ws/held/') : url, ...rest);
      window.__sockets.push(this);
    }
  };
})();
"""


def test_the_console_reconnects_and_catches_up_on_missed_messages(alice, chat_server):
    base = chat_server
    profile = profile_get(user=alice)
    profile.language = "en"
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)

    with chromium() as browser:
        try:
            context = browser.new_context()
            context.add_init_script(SOCKET_SPY)
            agent, visitor = _online_with_a_chat(context, base)

            agent.evaluate("window.__hold = true; window.__sockets.at(-1).close()")
            expect(agent.locator("#conn")).to_contain_text("reconnecting")
            # Sent while the console is cut off: no event will ever reach it.
            visitor.send({"type": "message.send", "text": "Missed me?", "client_msg_id": "v2"})
            visitor.until(lambda f: f["type"] == "message.ack")
            # And the agent's own reply, typed while offline, goes out after the reconnect.
            agent.fill("#text", "Sorry, I was cut off.")
            agent.press("#text", "Enter")
            expect(agent.locator("#log li.pending")).to_contain_text("Sorry, I was cut off.")
            agent.evaluate("window.__hold = false")

            expect(agent.locator("#conn")).to_have_text("Connected", timeout=20000)
            expect(agent.locator("#log")).to_contain_text("Missed me?")
            reply = visitor.until(
                lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent"
            )
            assert reply["message"]["text"] == "Sorry, I was cut off."
            # Nothing shown twice.
            expect(agent.locator("#log li", has_text="Missed me?")).to_have_count(1)
            expect(agent.locator("#log li", has_text="Sorry, I was cut off.")).to_have_count(1)
            expect(agent.locator("#log li.pending")).to_have_count(0)
            visitor.ws.close()
        finally:
            browser.close()


def test_the_console_resends_what_a_busy_server_refused_and_marks_what_it_refused_for_good(
    alice, chat_server
):
    base = chat_server
    profile = profile_get(user=alice)
    profile.language = "en"
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)
    answered: list[str] = []

    def refuse_first_tries(route):
        # Between the console and the server: the first try of each message is answered as
        # a busy server would answer it ("Busy?") or as a closed chat would ("Too late").
        server = route.connect_to_server()

        def from_page(message):
            frame = json.loads(message)
            if frame.get("type") == "message.send" and frame["client_msg_id"] not in answered:
                answered.append(frame["client_msg_id"])
                code = "overloaded" if frame["text"] == "Busy?" else "closed"
                route.send(
                    json.dumps(
                        {"type": "error", "code": code, "message": code, "ref": frame["ref"]}
                        | ({"retry_after_ms": 300} if code == "overloaded" else {})
                    )
                )
                return
            server.send(message)

        route.on_message(from_page)

    with chromium() as browser:
        try:
            context = browser.new_context()
            # The page's timers run on a clock the test can move on (time still flows by itself).
            context.clock.install()
            context.route_web_socket(re.compile(r".*/ws/agent/$"), refuse_first_tries)
            agent, visitor = _online_with_a_chat(context, base)

            agent.fill("#text", "Busy?")
            agent.press("#text", "Enter")
            expect(agent.locator("#log li.pending")).to_contain_text("not sent yet, retrying")
            # Resent by itself after the wait the server asked for, stored and shown once.
            expect(agent.locator("#log li.pending")).to_have_count(0, timeout=10000)
            expect(agent.locator("#log li", has_text="Busy?")).to_have_count(1)
            reply = visitor.until(
                lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent"
            )
            assert reply["message"]["text"] == "Busy?"

            agent.fill("#text", "Too late")
            agent.press("#text", "Enter")
            expect(agent.locator("#log li.failed")).to_contain_text("not sent")
            refused = answered[-1]
            # A minute of the page's time passes at once: every retry timer it holds fires.
            agent.clock.run_for(60_000)
            # A later message travels the same socket after any resend those timers made, so
            # once it is answered, a resend would have been seen.
            agent.fill("#text", "After")
            agent.press("#text", "Enter")
            expect(agent.locator("#log li.failed", has_text="After")).to_contain_text("not sent")
            assert answered.count(refused) == 1, "refused for good is not resent"
            expect(agent.locator("#log li.pending")).to_have_count(0)
            visitor.ws.close()
        finally:
            browser.close()
