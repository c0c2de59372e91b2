"""In a real browser: the visitor ends a chat, answers the quick feedback, the director sees it.

The widget's panel is another branch's work; this page stands in for it, served on the chat's
own origin, talking to the real server over the visitor websocket and the feedback endpoint.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.db import connections
from django.test import Client
from playwright.sync_api import expect

from chat.models import Conversation
from chat.services import conversation_claim
from feedback.models import Feedback
from tests.conftest import chromium

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chat panel stand-in</title></head>
<body><main><h1>Chat</h1>
<p id="state">connecting</p><button id="end" type="button">End chat</button>
<div id="panel"></div><p id="done"></p></main>
<script type="module">
import { renderFeedback } from "/static/widget/feedback.js";
const state = document.getElementById("state");
const page = { url: location.href, title: document.title };
const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/visitor/");
let token = null;
ws.onopen = () => ws.send(JSON.stringify({ type: "hello", page }));
ws.onmessage = (event) => {
  const frame = JSON.parse(event.data);
  if (frame.type === "welcome" && !token) {
    const start = { type: "conversation.start", text: "Hello", client_msg_id: "m1", page };
    ws.send(JSON.stringify(start));
  } else if (frame.type === "conversation.started") {
    token = frame.token;
    state.textContent = "started";
  } else if (frame.type === "conversation.closed") {
    state.textContent = "closed";
    renderFeedback(document.getElementById("panel"), {
      token, reference: frame.conversation.reference, lang: "en",
      onDone: ({ sent }) => {
        document.getElementById("done").textContent = sent ? "sent" : "skipped";
      },
    });
  } else if (frame.type === "error") {
    state.textContent = "error " + frame.code;
  }
};
document.getElementById("end").addEventListener("click", () => {
  ws.send(JSON.stringify({ type: "conversation.end" }));
});
</script></body></html>"""


# The stand-in page is fulfilled by Playwright, not loaded from 127.0.0.1, so Chromium would
# treat its websocket to the loopback server as a public page reaching inward.
STAND_IN_FLAG = "--disable-features=LocalNetworkAccessChecks"


def in_thread(func, *args):
    """Runs ORM work off the thread where Playwright's sync API keeps its event loop."""

    def run():
        try:
            return func(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _claim_the_only_chat(agent) -> None:
    conversation_claim(conversation_id=Conversation.objects.get().pk, agent=agent)


def _chat_ended_on_the_page(browser, chat_server: str, agent):
    """A visitor's page (the stand-in panel) whose chat the agent took and the visitor ended:
    the quick feedback is on screen."""
    page = browser.new_context().new_page()
    page.route(
        f"{chat_server}/panel-stand-in",
        lambda route: route.fulfill(body=PAGE, content_type="text/html"),
    )
    page.goto(f"{chat_server}/panel-stand-in")
    expect(page.locator("#state")).to_have_text("started")
    in_thread(_claim_the_only_chat, agent)
    page.get_by_role("button", name="End chat").click()
    expect(page.locator("#state")).to_have_text("closed")
    return page


def _accessibility_violations(page) -> list[str]:
    results = Axe().run(page)
    return [v["id"] for v in results.response["violations"]]


def _metric(page, name: str):
    return page.locator(f'#totals [data-metric="{name}"]')


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_visitor_answers_and_the_director_sees_the_counts_move(agent_online, dana, chat_server):
    from agents.services import guidance_acknowledge

    guidance_acknowledge(user=dana, actor_ip=None)  # visitors' comments need it
    director = Client()
    director.force_login(dana)
    session = director.cookies["sessionid"].value

    with chromium(STAND_IN_FLAG) as browser:
        try:
            reports = browser.new_context()
            reports.add_cookies([{"name": "sessionid", "value": session, "url": chat_server}])
            director_page = reports.new_page()
            director_page.goto(f"{chat_server}/reports/")
            expect(_metric(director_page, "feedback_answers")).to_have_text("0")

            page = _chat_ended_on_the_page(browser, chat_server, agent_online)
            service = page.get_by_role("group", name="Were you satisfied with the service")
            expect(service.get_by_role("button", name="Yes")).to_be_focused()
            assert _accessibility_violations(page) == []
            service.get_by_role("button", name="Yes").click()
            channel = page.get_by_role("group", name="Was chat a good way to get service?")
            expect(channel.get_by_role("button", name="Yes")).to_be_focused()
            channel.get_by_role("button", name="No").click()
            comment = page.get_by_label("Comment (optional)")
            expect(comment).to_be_focused()
            assert _accessibility_violations(page) == []
            comment.fill("Friendly <3 but the chat window was small")
            page.get_by_role("button", name="Send").click()
            thanks = page.get_by_text("Thank you for your feedback!")
            expect(thanks).to_be_visible()
            expect(thanks).to_be_focused()
            expect(page.locator("#done")).to_have_text("sent")

            director_page.reload()
            expect(_metric(director_page, "chats")).to_have_text("1")
            expect(_metric(director_page, "feedback_answers")).to_have_text("1")
            expect(_metric(director_page, "service_yes_share")).to_have_text("100 %")
            expect(_metric(director_page, "channel_yes_share")).to_have_text("0 %")
            expect(director_page.locator("#comments")).to_contain_text(
                "Friendly <3 but the chat window was small"
            )
            expect(director_page.locator("#by-agent")).to_contain_text("Alice Agent")
            assert _accessibility_violations(director_page) == []
            assert not re.search(r"<script", director_page.content())
        finally:
            browser.close()

    fb = Feedback.objects.get()
    assert (fb.service_satisfied, fb.channel_satisfied) == (True, False)
    assert fb.conversation.assigned_agent == agent_online


STANDALONE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Feedback</title></head>
<body><main><div id="panel"></div><p id="done"></p></main>
<script type="module">
import {{ renderFeedback }} from "/static/widget/feedback.js";
renderFeedback(document.getElementById("panel"), {{
  token: {token}, reference: "ABCDE-FGHJK", lang: "{lang}",
  onDone: ({{ sent }}) => {{ document.getElementById("done").textContent = String(sent); }},
}});
</script></body></html>"""


def _ended_chat():
    from datetime import timedelta

    from django.utils import timezone

    from .factories import conversation

    return conversation(created_at=timezone.now() - timedelta(minutes=5), length=120)


def _open_panel(browser, server: str, token: str, lang: str):
    page = browser.new_page()
    body = STANDALONE.format(lang=lang, token=json.dumps(token))
    page.route(f"{server}/panel", lambda route: route.fulfill(body=body, content_type="text/html"))
    page.goto(f"{server}/panel")
    return page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_skipping_everything_stores_nothing_and_bad_comments_are_explained(chat_server):
    (skipped, skip_token), (kept, keep_token) = in_thread(_ended_chat), in_thread(_ended_chat)
    with chromium(STAND_IN_FLAG) as browser:
        try:
            page = _open_panel(browser, chat_server, skip_token, "fi")
            expect(page.get_by_role("group", name="Olitko tyytyväinen")).to_be_visible()
            for _ in range(3):
                page.get_by_role("button", name="Ohita").click()
            expect(page.locator("#done")).to_have_text("false")
            expect(page.locator("#panel")).to_be_empty()

            page = _open_panel(browser, chat_server, keep_token, "sv")
            page.get_by_role("button", name="Ja").click()
            page.get_by_role("button", name="Hoppa över").click()
            comment = page.get_by_label("Kommentar (frivillig)")
            comment.fill("<b>bra</b>")
            page.get_by_role("button", name="Skicka").click()
            expect(page.get_by_role("status")).to_have_text(
                "Kommentaren får inte innehålla HTML eller kod."
            )
            expect(comment).to_be_focused()
            comment.fill("Bra och snabbt")
            page.get_by_role("button", name="Skicka").click()
            expect(page.get_by_text("Tack för din respons!")).to_be_focused()
            expect(page.locator("#done")).to_have_text("true")
        finally:
            browser.close()
    stored = {f.conversation_id: f for f in Feedback.objects.all()}
    assert list(stored) == [kept.pk]
    assert (stored[kept.pk].service_satisfied, stored[kept.pk].channel_satisfied) == (True, None)
    assert stored[kept.pk].comment == "Bra och snabbt"
    assert skipped.pk not in stored


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("lang", "yes", "next_question"),
    [
        ("fi", "Kyllä", "Oliko chat hyvä tapa saada palvelua?"),
        ("sv", "Ja", "Var chatten ett bra sätt att få service?"),
        ("en", "Yes", "Was chat a good way to get service?"),
    ],
)
def test_an_answer_to_the_first_question_is_kept_when_the_visitor_leaves_at_the_second(
    chat_server, lang, yes, next_question
):
    conv, token = in_thread(_ended_chat)
    with chromium(STAND_IN_FLAG) as browser:
        try:
            page = _open_panel(browser, chat_server, token, lang)
            with page.expect_response(lambda r: r.url.endswith("/feedback/submit")) as saved:
                page.get_by_role("button", name=yes).click()
            assert saved.value.ok
            expect(page.get_by_role("group", name=next_question)).to_be_visible()
            # The visitor closes the page here, at the second question.
            page.close()
        finally:
            browser.close()
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.channel_satisfied, fb.comment) == (True, None, "")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_answer_given_while_the_last_one_is_still_being_saved_is_saved_too(
    agent_online, chat_server
):
    """The second answer comes while the first one's request is under way: when the first
    comes back, the second must still be sent (it was once dropped with the first)."""
    held = []

    def hold_the_first(route):
        if not held:
            held.append(route)  # answered below, after the second answer is given
        else:
            route.continue_()

    with chromium(STAND_IN_FLAG) as browser:
        try:
            page = _chat_ended_on_the_page(browser, chat_server, agent_online)
            page.route(f"{chat_server}/feedback/submit", hold_the_first)
            service = page.get_by_role("group", name="Were you satisfied with the service")
            service.get_by_role("button", name="Yes").click()
            for _ in range(200):  # until the first answer's request is held (Playwright's loop)
                if held:
                    break
                page.wait_for_timeout(25)
            assert len(held) == 1
            channel = page.get_by_role("group", name="Was chat a good way to get service?")
            channel.get_by_role("button", name="No").click()
            held[0].continue_()
            page.get_by_role("button", name="Skip").click()
            expect(page.locator("#done")).to_have_text("sent")
        finally:
            browser.close()

    fb = Feedback.objects.get()
    assert (fb.service_satisfied, fb.channel_satisfied) == (True, False)
