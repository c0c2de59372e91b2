"""Bidirectional text in a real browser: names and text from people never reorder ours.

Alice saved her name with a RIGHT-TO-LEFT OVERRIDE (U+202E) in it, which would turn "joined the
chat" after it into "tahc eht denioj"; her colleague's name is Arabic. A visitor's message holds
an override too. The widget and the console must show their own words in reading order, with
the names isolated, and the console must show the visitor's control as a visible marker.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from agents.services import guidance_acknowledge, profile_get
from tests.browser import test_widget
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The widget tests' browser and host site (a page on another origin that embeds the widget).
host_site = test_widget.host_site
site = test_widget.site
Agent = test_widget.Agent

RLO = "\u202e"
SARA = "سارة"

# For a line such as "Eve Evil joined the chat": the name's box, and where the product's words
# after it are drawn. Read from the layout, so it holds for what a person sees.
LAYOUT = """(line) => {
  const name = line.querySelector("bdi");
  const words = [...line.childNodes].find(
    (n) => n.nodeType === 3 && n.textContent.includes("joined"),
  );
  const box = (start, end) => {
    const range = document.createRange();
    range.setStart(words, start);
    range.setEnd(words, end);
    return range.getBoundingClientRect();
  };
  const text = words.textContent;
  const joined = text.indexOf("joined");
  const chat = text.indexOf("chat");
  return {
    name: name.textContent,
    nameRight: name.getBoundingClientRect().right,
    joinedLeft: box(joined, joined + 6).left,
    theLeft: box(text.indexOf("the"), text.indexOf("the") + 3).left,
    chatLeft: box(chat, chat + 4).left,
  };
}"""


def _reads_in_order(line, name: str) -> None:
    at = line.evaluate(LAYOUT)
    assert at["name"] == name
    assert at["nameRight"] <= at["joinedLeft"] + 0.5, at
    assert at["joinedLeft"] < at["theLeft"] < at["chatLeft"], at


@pytest.fixture
def eve(alice):
    """Alice, renamed with an override outside any form (as a shell or a migration could)."""
    get_user_model().objects.filter(pk=alice.pk).update(first_name=f"Eve{RLO}", last_name="Evil")
    profile = profile_get(user=alice)
    profile.language = "en"
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)
    return alice


@pytest.fixture
def sara(bob, site):
    """Bob, renamed in Arabic script, online on a console socket (made before the browser:
    the ORM must not run inside Playwright's event loop)."""
    get_user_model().objects.filter(pk=bob.pk).update(first_name=f"{RLO}{SARA}", last_name="")
    bob.refresh_from_db()
    colleague = Agent(site[1], bob)
    with colleague.ws:
        colleague.send({"type": "presence.set", "status": "online"})
        colleague.send({"type": "hello"})
        colleague.wait("welcome")
        yield colleague


def test_names_and_a_visitors_overrides_never_reverse_the_products_words(eve, sara, site, browser):
    _, chat, write = site
    url = write("page1.html", title="Courses")
    context = browser.new_context()

    console = context.new_page()
    console.goto(f"{chat}/console/")
    console.fill("#id_username", "alice")
    console.fill("#id_password", PASSWORD)
    console.locator("form.card button[type=submit]").click()
    expect(console.locator("#conn")).to_have_text("Connected")
    console.select_option("#presence", "online")
    # The colleague list: the name is isolated from the product's words after it.
    expect(console.locator("#agents bdi", has_text=SARA)).to_have_count(1)
    expect(console.locator("#agents li", has_text=SARA)).to_have_text(f"{SARA} – Online")

    visitor = context.new_page()
    visitor.goto(url)
    visitor.get_by_role("button", name="Open chat").click()
    panel = visitor.frame_locator("iframe[title='Chat']")
    expect(panel.locator("#hc-input")).to_be_focused()
    panel.locator("#hc-input").fill(f"see {RLO}fdp.exe")
    panel.locator("#hc-input").press("Enter")
    expect(panel.locator(".msg.mine .state")).to_have_text("Sent")
    expect(panel.locator(".msg.mine .text")).to_have_attribute("dir", "auto")

    # The queue and the log show the visitor's override as a marker, not as an instruction.
    item = console.locator("#queue .queue-item")
    expect(item.locator(".first .bidi-mark")).to_have_text("⟨U+202E⟩")
    item.get_by_role("button").click()
    said = console.locator("#log .msg.visitor .text")
    expect(said).to_have_attribute("dir", "auto")
    expect(said.locator(".bidi-mark")).to_have_text("⟨U+202E⟩")
    expect(said).to_have_text("see ⟨U+202E⟩fdp.exe")
    assert said.locator(".bidi-mark").evaluate("m => getComputedStyle(m).direction") == "ltr"

    # The system line in the console: the name without its override, the words in order.
    joined = console.locator("#log .msg.system .text").first
    expect(joined).to_have_text("Eve Evil joined the chat")
    _reads_in_order(joined, "Eve Evil")

    # The same line in the widget, and the agent's name label on a reply.
    line = panel.locator(".msg.system p").first
    expect(line).to_have_text("Eve Evil joined the chat")
    _reads_in_order(line, "Eve Evil")
    console.fill("#text", "Hello! Let me check.")
    console.press("#text", "Enter")
    reply = panel.locator(".msg.agent").first
    expect(reply.locator("bdi.who")).to_have_text("Eve Evil")
    expect(reply.locator(".text")).to_have_attribute("dir", "auto")
    own = console.locator("#log .msg.agent .meta bdi").first
    expect(own).to_have_text("Eve Evil")

    # Handed to the colleague with the Arabic name: "سارة joined the chat", still in order.
    console.select_option("#transfer-to", label=SARA)
    console.locator("#transfer-form button").click()
    handed = panel.locator(".msg.system p", has_text=SARA)
    expect(handed).to_have_text(f"{SARA} joined the chat")
    _reads_in_order(handed, SARA)
    context.close()
