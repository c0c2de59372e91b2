"""Topics and the floor in a real browser: the widget's topic picker in fi/sv/en by keyboard, a
host page's data-topic, and a team lead following a live chat from the floor view."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agents.models import AgentProfile
from agents.roles import TEAM_LEAD
from agents.services import guidance_acknowledge
from chat.models import Topic
from chat.topics import topic_default
from tests.browser.axe import serious
from tests.browser.test_console import Visitor, _sign_in
from tests.browser.test_widget import _launcher
from tests.conftest import _user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=20_000)

PICKER = {
    "fi": (
        "Avaa chat",
        "Mitä asiasi koskee?",
        ["Valitse aihe (vapaaehtoinen)", "Kurssit", "Maksut"],
    ),
    "sv": (
        "Öppna chatten",
        "Vad gäller ditt ärende?",
        ["Välj ett ämne (frivilligt)", "Kurser", "Betalningar"],
    ),
    "en": (
        "Open chat",
        "What is your question about?",
        ["Choose a topic (optional)", "Courses", "Payments"],
    ),
}


@pytest.fixture
def topics(roles):
    courses = Topic.objects.create(
        slug="courses", name_fi="Kurssit", name_sv="Kurser", name_en="Courses", pickable=True
    )
    payments = Topic.objects.create(
        slug="payments",
        name_fi="Maksut",
        name_sv="Betalningar",
        name_en="Payments",
        pickable=True,
        position=1,
    )
    return courses, payments


def test_the_visitor_picks_a_topic_by_keyboard_in_each_language(topics, agent, site, browser):
    _, payments = topics
    _, _, write = site
    for lang, (launcher, label, options) in PICKER.items():
        context = browser.new_context()
        page = context.new_page()
        page.goto(write(f"{lang}.html", title=lang, lang=lang))
        page.get_by_role("button", name=launcher).click()
        panel = page.frame_locator("iframe[title='Chat']")
        expect(panel.locator("#hc-input")).to_be_focused()
        picker = panel.get_by_label(label)
        expect(picker).to_be_visible()
        expect(picker.locator("option")).to_have_text(options)
        assert serious(next(f for f in page.frames if "/widget/panel/" in f.url)) == []
        if lang == "en":
            # Keyboard only: back from the message box to the picker, choose, write, send.
            page.keyboard.press("Shift+Tab")
            expect(picker).to_be_focused()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowDown")
            expect(picker).to_have_value("payments")
            page.keyboard.press("Tab")
            expect(panel.locator("#hc-input")).to_be_focused()
            page.keyboard.type("How do I pay?")
            page.keyboard.press("Enter")
            queued = agent.wait("queue.added")
            assert queued["conversation"]["topic_id"] == payments.pk
            # The chat has started: no picker any more.
            expect(picker).to_be_hidden()
        context.close()


def test_the_host_pages_topic_needs_no_picker(topics, agent, site, browser):
    courses, _ = topics
    _, _, write = site
    page = browser.new_page()
    page.goto(write("courses.html", title="Courses", attrs='data-topic="courses"'))
    _launcher(page).click()
    panel = page.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-input")).to_be_focused()
    expect(panel.locator("#hc-topics")).to_be_hidden()
    page.keyboard.type("Which course?")
    page.keyboard.press("Enter")
    queued = agent.wait("queue.added")
    assert queued["conversation"]["topic_id"] == courses.pk
    page.close()


@pytest.fixture
def floor_staff(alice, roles):
    """Tina, a team lead, and Alice online with room for four chats (made before the browser)."""
    lead = _user("tina", first="Tina", last="Lead", group=TEAM_LEAD)
    for user in (lead, alice):
        guidance_acknowledge(user=user, actor_ip=None)
    AgentProfile.objects.filter(user__in=[lead, alice]).update(language="en")
    AgentProfile.objects.filter(user=alice).update(presence="online", capacity=4)
    return lead


def test_a_team_lead_sees_the_floor_and_follows_a_live_chat(floor_staff, chat_server, browser):

    base = chat_server
    visitor = Visitor(base)
    visitor.send({"type": "conversation.start", "text": "Is anyone there?", "client_msg_id": "v1"})
    started = visitor.until(lambda f: f["type"] == "conversation.started")
    reference = started["conversation"]["reference"]

    page = browser.new_context().new_page()
    _sign_in(page, base, "tina")
    page.get_by_role("link", name="Floor").click()
    expect(page).to_have_url(f"{base}/console/floor/")
    agents = page.locator("#floor-agents")
    expect(agents).to_contain_text("Alice Agent")
    expect(agents).to_contain_text("0 / 4")
    chats = page.locator("#floor-chats")
    expect(chats).to_contain_text(reference)
    expect(chats).to_contain_text("Waiting")
    assert serious(page) == []

    page.get_by_role("link", name=f"Follow chat {reference} (read-only)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Following {reference}")
    log = page.locator("#monitor-log")
    expect(log).to_contain_text("Is anyone there?")
    assert page.locator("textarea").count() == 0
    # A new message shows up while following.
    visitor.send({"type": "message.send", "text": "Hello again", "client_msg_id": "v2"})
    expect(log).to_contain_text("Hello again")
    assert serious(page) == []
    visitor.ws.close()


@pytest.fixture
def offer_routing(settings, alice, roles):
    """Offer mode in the server (set before it forks); Alice reads English, Payments is a
    topic served by nobody yet (so every agent)."""
    settings.CHAT_ROUTING = "offer"
    topic_default()  # the migration's row, gone after an earlier test's flush
    guidance_acknowledge(user=alice, actor_ip=None)
    AgentProfile.objects.filter(user=alice).update(language="en")
    return Topic.objects.create(
        slug="payments", name_fi="Maksut", name_sv="Betalningar", name_en="Payments"
    )


def test_an_agent_accepts_an_offer_and_hands_the_chat_to_a_topic(
    offer_routing, chat_server, browser
):
    base = chat_server
    agent = browser.new_context().new_page()
    _sign_in(agent, base, "alice")
    expect(agent.locator("#conn")).to_have_text("Connected")
    agent.select_option("#presence", "online")
    visitor = Visitor(base)
    visitor.send({"type": "hello"})
    visitor.until(lambda f: f.get("agents_online") is True)
    visitor.send({"type": "conversation.start", "text": "My invoice?", "client_msg_id": "v1"})
    started = visitor.until(lambda f: f["type"] == "conversation.started")
    reference = started["conversation"]["reference"]

    offer = agent.get_by_role("group", name=f"Offered to you: {reference}")
    expect(offer).to_be_visible()
    assert serious(agent) == []
    offer.get_by_role("button", name="Accept").click()
    expect(agent.locator("#chat-h")).to_have_text(reference)
    expect(agent.locator("#log")).to_contain_text("My invoice?")

    agent.select_option("#transfer-to", label="Payments")
    agent.locator("#transfer-form button").click()
    # Back in the queue, in its new topic, and offered again (to Alice, the only one online).
    item = agent.locator("#queue .queue-item")
    expect(item).to_contain_text("Topic: Payments")
    expect(agent.get_by_role("group", name=f"Offered to you: {reference}")).to_be_visible()
    waiting = visitor.until(
        lambda f: f["type"] == "conversation.updated" and f["conversation"]["status"] == "waiting"
    )
    assert waiting["conversation"]["topic_id"] == offer_routing.pk
    visitor.ws.close()


OFFER_COUNTDOWN = {
    "fi": (
        "Tarjottu sinulle",
        "Siirtyy eteenpäin 30 s kuluttua",
        r"Tarjouksen hyväksymiseen on aikaa \d sekuntia",
    ),
    "sv": ("Erbjuden till dig", "Går vidare om 30 s", r"\d sekunder kvar att ta emot erbjudandet"),
    "en": ("Offered to you", "Passes on in 30 s", r"\d seconds left to accept the offer"),
}


@pytest.fixture(params=["fi", "sv", "en"])
def offer_lang(offer_routing, request):
    """Alice reads the console in this language (made before the browser: ORM work)."""
    AgentProfile.objects.filter(user__username="alice").update(language=request.param)
    return request.param


def test_an_offer_counts_down_and_says_so_politely_before_it_passes_on(
    offer_lang, chat_server, browser
):
    """CHAT_OFFER_TIMEOUT_SECONDS (30) on the offer, in the agent's language: the count is
    shown, not read out each second; shortly before the end it is said once, politely."""
    import re

    offered, count, soon = OFFER_COUNTDOWN[offer_lang]
    agent = browser.new_context().new_page()
    agent.clock.install()
    _sign_in(agent, chat_server, "alice")
    expect(agent.locator("#conn.ok")).to_be_visible()
    agent.select_option("#presence", "online")
    visitor = Visitor(chat_server)
    visitor.send({"type": "hello"})
    visitor.until(lambda f: f.get("agents_online") is True)
    visitor.send({"type": "conversation.start", "text": "Hello?", "client_msg_id": "v1"})
    reference = visitor.until(lambda f: f["type"] == "conversation.started")["conversation"][
        "reference"
    ]
    offer = agent.get_by_role("group", name=f"{offered}: {reference}")
    expect(offer).to_be_visible()
    left = offer.locator(".offer-left")
    expect(left).to_have_text(re.compile(r"(29|30) s"))
    assert left.get_attribute("aria-live") is None
    expect(agent.locator("#said")).not_to_contain_text(re.compile(soon))
    agent.clock.fast_forward(21_000)
    expect(left).to_have_text(re.compile(count.replace("30", r"\d")))
    expect(agent.locator("#said")).to_contain_text(re.compile(soon))
    assert agent.locator("#said").get_attribute("aria-live") == "polite"
    visitor.ws.close()
