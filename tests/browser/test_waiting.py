"""The visitor panel while waiting and when nobody is there, in a real browser, in fi/sv/en on a
desktop and a phone: where keyboard focus lands, queue position and estimate, messages left
out of hours. The host site and the agent's socket are test_widget's."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect as ws_connect

from tests.browser import test_widget as widget
from tests.browser.axe import serious

# test_widget's fixtures: a host site on another origin, Alice online, opening hours.
host_site, site, agent, monday_hours = (
    widget.host_site,
    widget.site,
    widget.agent,
    widget.monday_hours,
)


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
    assert serious(frame) == []
    context.close()


def _start_ahead(ws) -> int:
    """A visitor who starts a chat before ours, over a plain websocket; returns its id."""
    ws.send(json.dumps({"type": "conversation.start", "text": "Ahead", "client_msg_id": "a1"}))
    while True:
        frame = json.loads(ws.recv(timeout=15))
        if frame["type"] == "conversation.started":
            return frame["conversation"]["id"]


# Counts every rewrite of the panel's live region from now on.
WATCH_STATUS = """() => {
  window.statusWrites = 0;
  new MutationObserver(() => window.statusWrites++).observe(
    document.getElementById("hc-status"), { childList: true, characterData: true, subtree: true });
}"""


QUEUE_WORDS = {
    "fi": (
        "Lähetä",
        "Olet jonossa sijalla 2. Arvioitu odotusaika: 3–12 minuuttia.",
        "Olet jonossa sijalla 1. Arvioitu odotusaika: muutama minuutti.",
    ),
    "sv": (
        "Skicka",
        "Du är nummer 2 i kön. Beräknad väntetid: 3–12 minuter.",
        "Du är nummer 1 i kön. Beräknad väntetid: några minuter.",
    ),
    "en": (
        "Send",
        "You are 2nd in the queue. Estimated wait: 3–12 minutes.",
        "You are 1st in the queue. Estimated wait: a few minutes.",
    ),
}


@pytest.mark.parametrize(("lang", "screen"), LANGS_AND_SCREENS)
def test_the_place_in_the_queue_and_the_estimate_move_as_chats_ahead_are_taken(
    agent, site, browser, lang, screen
):
    _, chat, _ = site
    ahead = ws_connect(chat.replace("http", "ws") + "/ws/visitor/", origin=chat, open_timeout=30)
    with ahead:
        _waits_behind(agent, site, browser, lang, screen, ahead)


def _waits_behind(agent, site, browser, lang, screen, ahead):
    _, _, write = site
    send, second, first = QUEUE_WORDS[lang]
    ahead_id = _start_ahead(ahead)
    agent.wait("queue.added")
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.goto(write(f"queue-{lang}.html", title="Queue", lang=lang))
    page.get_by_role("button", name=LAUNCHER[lang]).click()
    panel = page.frame_locator("iframe[title='Chat']")
    panel.locator("#hc-input").fill("Hello")
    panel.get_by_role("button", name=send).click()
    status = panel.locator("#hc-status")
    expect(status).to_have_text(second)
    # A polite live region, which the panel rewrites only when its words change.
    expect(status).to_have_attribute("role", "status")
    frame = _panel_frame(page)
    assert serious(frame) == []
    frame.evaluate(WATCH_STATUS)
    # Frames that change nothing in the words (the visitor's own message) rewrite nothing.
    panel.locator("#hc-input").fill("Are you there?")
    panel.get_by_role("button", name=send).click()
    agent.wait("queue.message", lambda f: f["message"]["text"] == "Are you there?")

    agent.send({"type": "conversation.claim", "conversation_id": ahead_id})
    agent.wait("conversation.claim.ok")
    expect(status).to_have_text(first)
    assert frame.evaluate("window.statusWrites") == 1
    context.close()


def _answer_when_back(agent, conversation_id: int, text: str) -> None:
    """The agent comes online, takes the message left meanwhile and answers it."""
    agent.send({"type": "presence.set", "status": "online"})
    agent.send({"type": "conversation.claim", "conversation_id": conversation_id})
    agent.wait("conversation.claim.ok")
    agent.send(
        {
            "type": "message.send",
            "conversation_id": conversation_id,
            "text": text,
            "client_msg_id": "r1",
        }
    )
    agent.wait("message.ack")


# --- a message left at night -------------------------------------------------------------------

LEFT_WORDS = {
    "fi": (
        "Lähetä",
        "Pienennä chat",
        "Jätä viesti, niin vastaamme tähän.",
        "Vastaamme aikaisintaan, kun asiakaspalvelu aukeaa: {when}.",
    ),
    "sv": (
        "Skicka",
        "Minimera chatten",
        "Lämna ett meddelande så svarar vi här.",
        "Vi svarar tidigast när kundtjänsten öppnar: {when}.",
    ),
    "en": (
        "Send",
        "Minimise chat",
        "Leave a message and we will answer here.",
        "We will answer at the earliest when customer service opens: {when}.",
    ),
}


@pytest.fixture
def closed_until_tomorrow(roles):
    """Opening hours only tomorrow 09:00 to 10:00: closed now, whenever the test runs."""
    from datetime import time

    from django.utils import timezone

    from chat.models import OpeningHours

    tomorrow = (timezone.localdate().weekday() + 1) % 7
    OpeningHours.objects.create(weekday=tomorrow, opens=time(9), closes=time(10))
    return tomorrow


@pytest.fixture
def agent_away(alice, site):
    """Alice's console is connected but she is not online (the night)."""
    agent = widget.Agent(site[1], alice)
    with agent.ws:
        agent.send({"type": "hello"})
        agent.wait("welcome")
        yield agent


def _weekday(lang: str, day: int) -> str:
    from django.utils import translation
    from django.utils.dates import WEEKDAYS

    with translation.override(lang):
        return str(WEEKDAYS[day])


@pytest.mark.parametrize(("lang", "screen"), LANGS_AND_SCREENS)
def test_a_message_left_at_night_is_answered_in_the_morning_and_shown_on_the_next_visit(
    closed_until_tomorrow, agent_away, site, browser, lang, screen
):
    _, _, write = site
    send, minimise, leave, answer_from = LEFT_WORDS[lang]
    url = write(f"night-{lang}.html", title="Night", lang=lang)
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name=LAUNCHER[lang]).click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.get_by_text(leave)).to_be_visible()
    when = f"{_weekday(lang, closed_until_tomorrow)} 09:00"
    expect(panel.locator("#hc-answer")).to_have_text(answer_from.format(when=when))
    box = panel.locator("#hc-input")
    expect(box).to_be_focused()
    expect(box).to_be_enabled()
    assert serious(_panel_frame(page)) == []
    box.fill("Asked at night: when does the spring course start?")
    panel.get_by_role("button", name=send).click()
    left = agent_away.wait("queue.added")["conversation"]
    assert left["offline"] is True
    assert left["first_message"] == "Asked at night: when does the spring course start?"
    panel.get_by_role("button", name=minimise).click()
    page.close()

    # The morning: Alice comes online, takes the message from the console's list and answers.
    _answer_when_back(agent_away, left["id"], "Good morning! It starts on 12 January.")

    # The visitor's next visit: a badge on the launcher, and the answer in the panel.
    page = context.new_page()
    page.goto(url)
    launcher = page.get_by_role("button", name=LAUNCHER[lang])
    expect(launcher.locator(".b")).to_have_text("1")
    launcher.click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator(".msg.agent .text")).to_have_text("Good morning! It starts on 12 January.")
    expect(panel.locator(".msg.mine .text")).to_have_text(
        "Asked at night: when does the spring course start?"
    )
    expect(launcher.locator(".b")).to_be_hidden()
    assert serious(_panel_frame(page)) == []

    # Read once: the visit after that, with the panel minimised, shows no badge.
    panel.get_by_role("button", name=minimise).click()
    page.close()
    page = context.new_page()
    page.goto(url)
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator(".msg.agent .text")).to_have_count(1)
    expect(page.get_by_role("button", name=LAUNCHER[lang]).locator(".b")).to_be_hidden()
    context.close()


# --- the greeting ------------------------------------------------------------------------------

GREETINGS = {
    "fi": ("Hei! Miten voimme auttaa?", "Paikalla nyt: Alice Agent."),
    "sv": ("Hej! Hur kan vi hjälpa?", "På plats nu: Alice Agent."),
    "en": ("Hi! How can we help?", "Online now: Alice Agent."),
}


@pytest.fixture
def greetings(roles):
    from chat.models import Greeting

    for lang, (text, _) in GREETINGS.items():
        Greeting.objects.create(language=lang, text=text, show_agent_names=True)


@pytest.mark.parametrize(("lang", "screen"), LANGS_AND_SCREENS)
def test_the_directors_greeting_with_the_agents_online_shows_when_the_panel_opens(
    greetings, agent, site, browser, lang, screen
):
    _, _, write = site
    text, online = GREETINGS[lang]
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.goto(write(f"greet-{lang}.html", title="Greeting", lang=lang))
    page.get_by_role("button", name=LAUNCHER[lang]).click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-greeting")).to_have_text(f"{text} {online}")
    expect(panel.locator("#hc-greeting")).to_be_visible()
    assert serious(_panel_frame(page)) == []
    # Nothing is kept in the browser, and no chat exists, until the visitor writes.
    assert page.evaluate("localStorage.length") == 0
    assert context.cookies() == []
    context.close()


# --- the e-mail for the answer ------------------------------------------------------------------

CONTACT_LABEL = {
    "fi": "Sähköposti vastausta varten (vapaaehtoinen)",
    "sv": "E-post för svaret (frivillig)",
    "en": "E-mail for the answer (optional)",
}


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server on localhost for this process's Django e-mail, and the setting on
    (before the chat server starts, so that it takes the address)."""
    from tests.smtp import smtp_server

    settings.CHAT_OFFLINE_CONTACT = True
    settings.CHAT_PUBLIC_URL = "https://chat.example.org"
    with smtp_server(settings) as inbox:
        yield inbox


def _in_thread(func):
    """ORM work off the thread where Playwright's sync API keeps its event loop."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run():
        try:
            return func()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.mark.parametrize(
    ("lang", "screen"), [("fi", "desktop"), ("sv", "phone"), ("en", "desktop")]
)
def test_the_answer_notice_reaches_the_address_given_and_carries_no_chat_text(
    smtp_inbox, closed_until_tomorrow, agent_away, site, browser, lang, screen
):
    from chat import contact
    from tests.smtp import body_of

    _, _, write = site
    send = LEFT_WORDS[lang][0]
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.goto(write(f"mail-{lang}.html", title="Mail", lang=lang))
    page.get_by_role("button", name=LAUNCHER[lang]).click()
    panel = page.frame_locator("iframe[title='Chat']")
    address = panel.get_by_label(CONTACT_LABEL[lang])
    expect(address).to_be_visible()
    assert serious(_panel_frame(page)) == []
    address.fill(f"visitor-{lang}@example.org")
    panel.locator("#hc-input").fill("My membership number is 778899, please call")
    panel.get_by_role("button", name=send).click()
    left = agent_away.wait("queue.added")["conversation"]
    context.close()

    agent_away.send({"type": "presence.set", "status": "online"})
    agent_away.send({"type": "conversation.claim", "conversation_id": left["id"]})
    claimed = agent_away.wait("conversation.claim.ok")
    assert claimed["detail"]["contact_email"] == f"visitor-{lang}@example.org"
    agent_away.send(
        {
            "type": "message.send",
            "conversation_id": left["id"],
            "text": "We tried to call you",
            "client_msg_id": "r1",
        }
    )
    agent_away.wait("message.ack")

    assert _in_thread(contact.contact_notify_due) == 1
    [(recipients, mail)] = smtp_inbox.messages
    assert recipients == [f"visitor-{lang}@example.org"]
    body = body_of(mail)
    assert "https://chat.example.org/chat/" in body
    assert left["reference"] in body
    assert "778899" not in body and "membership" not in body and "call you" not in body


ANSWER_PAGE = {
    "fi": ("Avaa chat", "Tämä linkki on jo käytetty tai se on vanhentunut."),
    "sv": ("Öppna chatten", "Den här länken har redan använts eller har gått ut."),
    "en": ("Open the chat", "This link has already been used or has expired."),
}


@pytest.mark.parametrize(
    ("lang", "screen"), [("fi", "desktop"), ("sv", "phone"), ("en", "desktop")]
)
def test_the_notices_link_opens_the_answer_once_in_another_browser(
    smtp_inbox, settings, closed_until_tomorrow, agent_away, site, browser, lang, screen
):
    """The visitor wrote on the host site (its frame's storage is keyed to that site); the
    link opens the chat on the chat server's own page in a browser that has never seen it."""
    from chat import contact
    from tests.smtp import body_of

    _, chat, write = site
    settings.CHAT_PUBLIC_URL = chat  # the link points at the chat server under test
    send = LEFT_WORDS[lang][0]
    button, gone = ANSWER_PAGE[lang]
    context = browser.new_context(**VIEWPORTS[screen])
    page = context.new_page()
    page.goto(write(f"link-{lang}.html", title="Link", lang=lang))
    page.get_by_role("button", name=LAUNCHER[lang]).click()
    panel = page.frame_locator("iframe[title='Chat']")
    panel.get_by_label(CONTACT_LABEL[lang]).fill(f"link-{lang}@example.org")
    panel.locator("#hc-input").fill("When does the spring course start?")
    panel.get_by_role("button", name=send).click()
    left = agent_away.wait("queue.added")["conversation"]
    context.close()

    _answer_when_back(agent_away, left["id"], "It starts on 12 January.")
    assert _in_thread(contact.contact_notify_due) == 1
    body = body_of(smtp_inbox.messages[-1][1])
    match = re.search(re.escape(chat) + r"/chat/answer/\?lang=\w\w#[\w-]+", body)
    assert match, body
    link = match[0]
    assert "spring course" not in body and "12 January" not in body

    # A fresh browser: the link, one click, and the chat page with the answer in the panel.
    fresh = browser.new_context(**VIEWPORTS[screen])
    page = fresh.new_page()
    page.goto(link)
    assert serious(page) == []
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"{chat}/chat/?lang={lang}")
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator(".msg.agent .text")).to_have_text("It starts on 12 January.")
    expect(panel.locator(".msg.mine .text")).to_have_text("When does the spring course start?")
    # The link's token is in no address the browser keeps for the page.
    assert "#" not in page.url
    fresh.close()

    # Used once: another browser gets the page that says so, in the link's language.
    other = browser.new_context(**VIEWPORTS[screen])
    page = other.new_page()
    page.goto(link)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_text(gone)).to_be_visible()
    expect(page.locator("#answer-gone")).to_be_focused()
    assert page.evaluate("localStorage.length") == 0
    assert serious(page) == []
    other.close()


# --- the console's own list of messages left --------------------------------------------------


@pytest.fixture
def alice_acknowledged(alice):
    """Alice has read the console's guidance and reads it in English (made before the browser:
    ORM work)."""
    from agents.services import guidance_acknowledge, language_set

    guidance_acknowledge(user=alice, actor_ip=None)
    language_set(user=alice, language="en")
    return alice


def test_the_console_lists_messages_left_offline_apart_from_the_queue(
    alice_acknowledged, chat_server, browser
):
    from tests.browser.test_console import Visitor
    from tests.conftest import PASSWORD

    visitor = Visitor(chat_server)
    visitor.send({"type": "hello"})
    visitor.until(lambda f: f["type"] == "welcome")
    visitor.send(
        {
            "type": "conversation.start",
            "text": "Left at night",
            "client_msg_id": "v1",
            "offline": True,
        }
    )
    visitor.until(lambda f: f["type"] == "conversation.started")

    page = browser.new_context().new_page()
    page.goto(f"{chat_server}/console/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.locator("form.card button[type=submit]").click()
    expect(page.locator("#conn")).to_have_text("Connected")
    left = page.locator("#offline-queue .queue-item")
    expect(left).to_have_count(1)
    expect(left).to_contain_text("Left at night")
    expect(page.get_by_role("heading", name=re.compile("Offline messages"))).to_be_visible()
    expect(page.locator("#offline-count")).to_have_text("1")
    # Not in the queue, and no estimate: it waits for the opening hours, not for a free agent.
    expect(page.locator("#queue .queue-item")).to_have_count(0)
    expect(left.locator(".estimate")).to_have_text("")
    assert serious(page) == []
    page.select_option("#presence", "online")
    left.get_by_role("button").click()
    expect(page.locator("#log")).to_contain_text("Left at night")
    expect(page.locator("#offline-section")).to_be_hidden()
    visitor.ws.close()
