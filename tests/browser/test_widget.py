"""The visitor widget in a real browser, embedded in a host site on another origin.

The chat runs in a live Daphne process (`chat_server`); the host site is a tiny static server on
`localhost`, so host and chat are different origins as on a customer's site. The agent side is a
plain websocket client logged in with a session cookie, as the console would be.
"""

from __future__ import annotations

import json
import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import expect
from websockets.sync.client import connect as ws_connect

from tests.addresses import free_port
from tests.browser.axe import serious

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Patience, not timing: the machine running the tests may be busy.
expect.set_options(timeout=20_000)


HOST_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>button {{ background: hotpink !important; }} * {{ font-size: 40px; }}</style></head>
<body><main><h1>{title}</h1><p><a href="/{next}">Next page</a></p></main>
<script src="{chat}/widget.js" async {attrs}></script></body></html>
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def host_site(settings, tmp_path):
    """A static site on http://localhost:PORT that is allowed to embed the widget."""
    port = free_port()
    origin = f"http://localhost:{port}"
    settings.CHAT_EMBED_ORIGINS = [origin]
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield origin, tmp_path
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(host_site, chat_server):
    """Writes host pages that embed the widget; returns (host origin, chat origin, writer)."""
    origin, root = host_site

    def write(name, *, title, next_page="page2.html", lang="en", attrs="", chat=chat_server):
        html = HOST_PAGE.format(lang=lang, title=title, next=next_page, chat=chat, attrs=attrs)
        Path(root, name).write_text(html, encoding="utf-8")
        return f"{origin}/{name}"

    return origin, chat_server, write


class Agent:
    """The console's side, spoken over the agent websocket with a logged-in session."""

    def __init__(self, chat_origin: str, user) -> None:
        from agents.services import guidance_acknowledge

        # The console opens only for agents who have read its guidance.
        guidance_acknowledge(user=user, actor_ip=None)
        client = Client()
        client.force_login(user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        self.ws = ws_connect(
            chat_origin.replace("http", "ws") + "/ws/agent/",
            origin=chat_origin,
            additional_headers={"Cookie": cookie},
            open_timeout=30,
        )
        self.seen: list[dict] = []

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame))

    def wait(self, kind: str, where=lambda f: True) -> dict:
        for frame in self.seen:
            if frame["type"] == kind and where(frame):
                self.seen.remove(frame)
                return frame
        while True:
            try:
                frame = json.loads(self.ws.recv(timeout=15))
            except TimeoutError:
                raise AssertionError(
                    f"no {kind} frame; got {[f['type'] for f in self.seen]}"
                ) from None
            if frame["type"] == kind and where(frame):
                return frame
            self.seen.append(frame)


@pytest.fixture
def agent(alice, site):
    """Alice, online in the console. Created before the browser: the ORM must not run inside
    Playwright's event loop."""
    agent = Agent(site[1], alice)
    with agent.ws:
        agent.send({"type": "presence.set", "status": "online"})
        agent.send({"type": "hello"})
        agent.wait("welcome")
        yield agent


def _launcher(page):
    return page.get_by_role("button", name="Open chat")


def _open_panel(context, url: str):
    """A new page of `url` with the chat panel open and its script in charge of the message box
    (before that, Enter is a new line in the textarea and nothing is sent)."""
    page = context.new_page()
    page.goto(url)
    _launcher(page).click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-input")).to_be_focused()
    return page, panel


def test_a_visitor_chats_across_pages_of_a_host_site_with_an_agent(agent, site, browser):
    host, chat, write = site
    first = write("page1.html", title="Courses")
    write("page2.html", title="Prices", next_page="page1.html")

    context = browser.new_context()
    requests: list[str] = []
    sockets: list[str] = []
    dialogs: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(first)

    # Closed: only the launcher, and nothing connected, set or stored.
    launcher = _launcher(page)
    expect(launcher).to_be_visible()
    assert page.locator("iframe").count() == 0
    assert context.cookies() == []
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert sockets == []
    # Host CSS does not reach into the widget.
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(10, 77, 140)"
    assert serious(page) == []

    # Keyboard only: Tab to the launcher, Enter opens the panel with focus inside it.
    for _ in range(5):
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b.getRootNode().activeElement === b"):
            break
    else:
        pytest.fail("the launcher is not reachable with Tab")
    page.keyboard.press("Enter")
    panel = page.frame_locator("iframe[title='Chat']")
    box = panel.locator("#hc-input")
    expect(box).to_be_focused()
    expect(panel.get_by_role("textbox", name="Message")).to_be_visible()
    expect(panel.get_by_role("button", name="Send")).to_be_visible()
    expect(panel.get_by_text("kept for 3 months")).to_be_visible()
    expect(panel.get_by_role("link", name="Privacy notice")).to_have_attribute("href", "/privacy/")
    page.keyboard.type("Hello <img src=x onerror=alert(1)>")
    page.keyboard.press("Enter")
    mine = panel.locator(".msg.mine").first
    expect(mine.locator(".text")).to_have_text("Hello <img src=x onerror=alert(1)>")
    expect(mine.locator(".state")).to_have_text("Sent")
    expect(panel.locator("#hc-ref-value")).to_have_text(re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$"))

    queued = agent.wait("queue.message")
    assert queued["message"]["text"] == "Hello <img src=x onerror=alert(1)>"
    conversation_id = queued["conversation_id"]

    # The visitor goes on to another page of the site: the chat follows and the agent sees it.
    page.keyboard.press("Escape")
    expect(launcher).to_be_focused()
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_title("Prices")
    viewed = agent.wait("page.view", lambda f: f["page"]["url"].endswith("/page2.html"))
    assert viewed["conversation_id"] == conversation_id
    assert viewed["page"]["title"] == "Prices"
    assert viewed["page"]["referrer"] == first

    agent.send({"type": "conversation.claim", "conversation_id": conversation_id})
    claimed = agent.wait("conversation.claim.ok")
    assert claimed["messages"][0]["text"].startswith("Hello")
    agent.send(
        {
            "type": "message.send",
            "conversation_id": conversation_id,
            "text": "Hi, this is Alice. How can I help?",
            "client_msg_id": "a1",
        }
    )
    agent.wait("message.ack")

    # Minimised on this page: the launcher shows an unread badge; opening shows the message.
    launcher = _launcher(page)
    expect(launcher.locator(".b")).to_have_text("1")
    launcher.click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator(".msg.mine .text").first).to_have_text(
        "Hello <img src=x onerror=alert(1)>"
    )
    reply = panel.locator(".msg.agent").last
    expect(reply.locator(".who")).to_have_text("Alice Agent")
    expect(reply.locator(".text")).to_have_text("Hi, this is Alice. How can I help?")
    expect(panel.locator(".msg.system")).to_have_text("Alice Agent joined the chat")
    expect(launcher.locator(".b")).to_be_hidden()

    agent.send({"type": "typing", "conversation_id": conversation_id, "active": True})
    expect(panel.locator("#hc-typing")).to_have_text("Alice Agent is typing…")

    panel.locator("#hc-input").fill("Thanks!")
    panel.locator("#hc-input").press("Enter")
    got = agent.wait("message.new", lambda f: f["message"]["sender"] == "visitor")
    assert got["message"]["text"] == "Thanks!"

    chat_frame = next(f for f in page.frames if f.url.startswith(chat))
    assert serious(page) == []
    assert serious(chat_frame) == []

    # The visitor ends the chat and may start a new one.
    panel.get_by_role("button", name="End chat").click()
    expect(panel.get_by_text("The chat has ended.")).to_be_visible()
    agent.wait("conversation.closed")
    # The quick feedback takes focus; starting a new chat stays one button away.
    expect(panel.get_by_role("button", name="Yes").first).to_be_focused()
    new_chat = panel.get_by_role("button", name="Start a new chat")
    expect(new_chat).to_be_visible()
    assert page.evaluate("localStorage.getItem('helaoChat')") is None
    new_chat.click()
    expect(panel.locator("#hc-input")).to_be_focused()
    expect(panel.locator(".msg")).to_have_count(0)

    assert dialogs == []
    foreign = [u for u in requests if not u.startswith((host + "/", chat + "/"))]
    assert foreign == []
    assert all(u.startswith(chat.replace("http", "ws") + "/ws/visitor/") for u in sockets)
    context.close()


def test_the_launcher_stays_hidden_when_the_chat_server_is_unreachable(host_site, browser):
    origin, root = host_site
    dead = f"http://127.0.0.1:{free_port()}"
    Path(root, "down.html").write_text(
        HOST_PAGE.format(lang="en", title="Down", next="down.html", chat=dead, attrs=""),
        encoding="utf-8",
    )
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{origin}/down.html")
    page.wait_for_load_state("networkidle")
    expect(_launcher(page)).to_have_count(0)
    expect(page.get_by_role("heading", name="Down")).to_be_visible()
    assert errors == []
    page.close()


def test_the_launcher_speaks_the_host_pages_language(site, browser):
    _, _, write = site
    page = browser.new_page()
    page.goto(write("fi.html", title="Kurssit", lang="fi"))
    expect(page.get_by_role("button", name="Avaa chat")).to_be_visible()
    page.goto(write("sv.html", title="Kurser", lang="fi", attrs='data-lang="sv"'))
    expect(page.get_by_role("button", name="Öppna chatten")).to_be_visible()
    page.close()


@pytest.fixture
def monday_hours(roles):
    from datetime import time

    from chat.models import OpeningHours

    OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(16))


def test_the_panel_fills_a_phone_screen_and_says_when_nobody_is_online(monday_hours, site, browser):
    _, _, write = site
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    page.goto(write("phone.html", title="Phone"))
    _launcher(page).click()
    frame = page.locator("iframe[title='Chat']")
    expect(frame).to_be_visible()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.get_by_text("No one is available to chat right now.")).to_be_visible()
    # Nobody online: a message may still be left, and the panel says so.
    expect(panel.get_by_role("textbox", name="Message")).to_be_enabled()
    expect(panel.get_by_text("Leave a message and we will answer here.")).to_be_visible()
    expect(panel.get_by_role("list", name="Opening hours")).to_have_text("Monday 09:00–16:00")
    box = frame.bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
    assert serious(next(f for f in page.frames if "/widget/panel/" in f.url)) == []
    # Nothing was stored: no chat was started.
    assert page.evaluate("localStorage.length") == 0
    context.close()


def test_the_demo_page_embeds_the_widget_under_the_chats_own_policy(roles, chat_server, browser):
    page = browser.new_page(locale="fi-FI")
    problems: list[str] = []
    page.on("console", lambda m: "Refused" in m.text and problems.append(m.text))
    page.on(
        "response",
        lambda r: r.status >= 400 and "favicon" not in r.url and problems.append(r.url),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{chat_server}/demo/")
    launcher = page.get_by_role("button", name="Avaa chat")
    expect(launcher).to_be_visible()
    assert launcher.evaluate("b => getComputedStyle(b).borderRadius") == "50%"
    launcher.click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.get_by_role("button", name="Pienennä chat")).to_be_visible()
    assert problems == []
    page.close()


def test_a_message_typed_while_offline_is_sent_once_on_reconnect(agent, site, browser):
    _, chat, write = site
    url = write("offline.html", title="Offline")
    context = browser.new_context()
    network = {"down": False, "sockets": []}

    def route(ws):
        # The network between the browser and the chat server, which the test can cut.
        if network["down"]:
            ws.close()
            return
        ws.connect_to_server()
        network["sockets"].append(ws)

    context.route_web_socket(re.compile(r"/ws/visitor/$"), route)
    page, panel = _open_panel(context, url)
    panel.locator("#hc-input").fill("Before the outage")
    panel.locator("#hc-input").press("Enter")
    expect(panel.locator(".msg.mine .state")).to_have_text("Sent")
    conversation_id = agent.wait("queue.message")["conversation_id"]

    network["down"] = True
    for ws in network["sockets"]:
        ws.close()
    expect(panel.locator("#hc-status")).to_have_text("Connection lost. Reconnecting…")
    panel.locator("#hc-input").fill("Typed while offline")
    panel.locator("#hc-input").press("Enter")
    offline = panel.locator(".msg.mine").last
    expect(offline.locator(".state")).to_have_text("Not sent yet, retrying…")

    network["down"] = False
    chat_frame = next(f for f in page.frames if f.url.startswith(chat))
    chat_frame.evaluate("dispatchEvent(new Event('online'))")
    expect(offline.locator(".state")).to_have_text("Sent")
    expect(panel.locator(".msg.mine")).to_have_count(2)
    # Back online and caught up: the panel says the place in the queue again.
    expect(panel.locator("#hc-status")).to_have_text(
        "You are 1st in the queue. Estimated wait: a few minutes."
    )

    agent.send({"type": "conversation.claim", "conversation_id": conversation_id})
    texts = [m["text"] for m in agent.wait("conversation.claim.ok")["messages"]]
    assert texts.count("Typed while offline") == 1

    # Another tab of the same site picks up the same conversation.
    tab = context.new_page()
    tab.goto(url)
    _launcher(tab).click()
    other = tab.frame_locator("iframe[title='Chat']")
    expect(other.locator(".msg.mine .text")).to_have_text(
        ["Before the outage", "Typed while offline"]
    )
    expect(other.locator(".msg.system")).to_have_text("Alice Agent joined the chat")
    context.close()


def test_messages_a_busy_server_refused_are_resent_after_the_wait_it_asked_for(
    agent, site, browser
):
    _, _, write = site
    url = write("busy.html", title="Busy")
    context = browser.new_context()
    refused: list[str] = []

    def route(ws):
        # Between the panel and the chat server: the first try of each message is answered as
        # a server shedding load answers it.
        server = ws.connect_to_server()

        def from_page(message):
            frame = json.loads(message)
            kind = frame.get("type")
            if kind in ("conversation.start", "message.send") and (
                frame["client_msg_id"] not in refused
            ):
                refused.append(frame["client_msg_id"])
                busy = {"type": "error", "code": "overloaded", "message": "the server is busy"}
                ws.send(json.dumps({**busy, "ref": frame["ref"], "retry_after_ms": 1500}))
                return
            server.send(message)

        ws.on_message(from_page)

    context.route_web_socket(re.compile(r"/ws/visitor/$"), route)
    _, panel = _open_panel(context, url)
    for n, text in enumerate(("First, while busy", "Second, while busy"), start=1):
        panel.locator("#hc-input").fill(text)
        panel.locator("#hc-input").press("Enter")
        mine = panel.locator(".msg.mine").nth(n - 1)
        expect(mine.locator(".state")).to_have_text("Not sent yet, retrying…")
        expect(mine.locator(".state")).to_have_text("Sent", timeout=10000)
        assert len(refused) == n
    conversation_id = agent.wait("queue.message")["conversation_id"]
    agent.send({"type": "conversation.claim", "conversation_id": conversation_id})
    texts = [m["text"] for m in agent.wait("conversation.claim.ok")["messages"]]
    assert texts.count("First, while busy") == 1 and texts.count("Second, while busy") == 1
    expect(panel.locator(".msg.mine")).to_have_count(2)
    context.close()


FEEDBACK_JS = """
export function renderFeedback(container, { token, reference, lang }) {
  const p = document.createElement("p");
  p.textContent = `Feedback for ${reference} in ${lang}` + (token ? " with a token" : "");
  container.append(p);
}
"""


@pytest.fixture
def feedback_module(settings, tmp_path_factory):
    """A stand-in for the feedback app's widget module, found by the static files finders."""
    root = tmp_path_factory.mktemp("static")
    (root / "widget").mkdir()
    (root / "widget" / "feedback.js").write_text(FEEDBACK_JS)
    settings.STATICFILES_DIRS = [root, *settings.STATICFILES_DIRS]


def test_after_the_chat_ends_the_feedback_module_gets_the_conversation(
    feedback_module, agent, site, browser
):
    _, _, write = site
    page = browser.new_page()
    page.goto(write("feedback.html", title="Feedback", lang="sv"))
    page.get_by_role("button", name="Öppna chatten").click()
    panel = page.frame_locator("iframe[title='Chat']")
    panel.get_by_role("textbox", name="Meddelande").fill("Hej")
    panel.get_by_role("button", name="Skicka").click()
    reference = panel.locator("#hc-ref-value")
    expect(reference).to_have_text(re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$"))
    ref = reference.text_content()
    panel.get_by_role("button", name="Avsluta chatten").click()
    expect(panel.locator("#hc-feedback")).to_have_text(f"Feedback for {ref} in sv with a token")
    expect(panel.get_by_role("button", name="Starta en ny chatt")).to_be_focused()
    page.close()
