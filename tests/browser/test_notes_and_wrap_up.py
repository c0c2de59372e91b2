"""In a real browser, in Finnish, Swedish and English: an agent writes an internal note (the
visitor's socket never gets it) and ends the chat with a wrap-up chosen by keyboard; then wraps
up a chat the visitor ended. Every state is axe-clean."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from agents.services import guidance_acknowledge, profile_get
from chat.models import Conversation, Message, Tag, WrapUpReason
from tests.browser.axe import serious
from tests.browser.test_console import PAGE, Visitor, _sign_in
from tests.conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = "Called back yesterday about the refund"

WORDS = {
    "fi": {
        "note": "Sisäinen muistiinpano",
        "end_title": "Lopeta chat ja tee yhteenveto",
        "required": "Valitse syy.",
        "saved": "Yhteenveto tallennettu.",
        "reason": "Vastattu",
        "tag": "Maksut",
        "connected": "Yhdistetty",
    },
    "sv": {
        "note": "Intern anteckning",
        "end_title": "Avsluta chatten och sammanfatta den",
        "required": "Välj en orsak.",
        "saved": "Sammanfattningen har sparats.",
        "reason": "Besvarad",
        "tag": "Avgifter",
        "connected": "Ansluten",
    },
    "en": {
        "note": "Internal note",
        "end_title": "End the chat and wrap it up",
        "required": "Choose a reason.",
        "saved": "Wrap-up saved.",
        "reason": "Answered",
        "tag": "Fees",
        "connected": "Connected",
    },
}


class RecordingVisitor(Visitor):
    """A visitor that keeps every frame it receives, to show what never arrived."""

    def __init__(self, base: str):
        super().__init__(base)
        self.frames: list[dict] = []

    def until(self, test, timeout: float = 10) -> dict:
        def record(frame: dict) -> bool:
            self.frames.append(frame)
            return test(frame)

        return super().until(record, timeout)


def _start_chat(agent, base: str, text: str) -> RecordingVisitor:
    visitor = RecordingVisitor(base)
    visitor.send({"type": "hello", "page": PAGE})
    visitor.until(lambda f: f.get("agents_online") is True)
    visitor.send({"type": "conversation.start", "text": text, "client_msg_id": "v1", "page": PAGE})
    visitor.until(lambda f: f["type"] == "conversation.started")
    agent.locator("#queue .queue-item button").click()
    expect(agent.locator("#log")).to_contain_text(text)
    return visitor


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_an_agent_writes_a_note_and_wraps_up_chats_by_keyboard(alice, lang, chat_server):
    profile = profile_get(user=alice)
    profile.language = lang
    profile.save(update_fields=["language"])
    guidance_acknowledge(user=alice, actor_ip=None)
    reason = WrapUpReason.objects.create(name_fi="Vastattu", name_sv="Besvarad", name_en="Answered")
    WrapUpReason.objects.create(name_fi="Ohjattu", name_sv="Hänvisad", name_en="Referred")
    fees = Tag.objects.create(name_fi="Maksut", name_sv="Avgifter", name_en="Fees", position=1)
    Tag.objects.create(name_fi="Kurssit", name_sv="Kurser", name_en="Courses", position=2)
    Tag.objects.create(name_fi="Pois", name_sv="Bort", name_en="Retired", active=False)
    words = WORDS[lang]

    with chromium() as browser:
        agent = browser.new_context().new_page()
        _sign_in(agent, chat_server, "alice")
        expect(agent.locator("#conn")).to_have_text(words["connected"])
        agent.select_option("#presence", "online")
        visitor = _start_chat(agent, chat_server, "Where is my refund?")

        # The note: typed in its own box, Enter adds it, shown marked as a note.
        agent.locator("#note-text").fill(NOTE)
        agent.press("#note-text", "Enter")
        note = agent.locator("#log .msg.note")
        expect(note).to_contain_text(NOTE)
        expect(note.locator(".meta")).to_contain_text(words["note"])
        expect(agent.locator("#note-text")).to_have_value("")
        agent.fill("#text", "Thanks for waiting")
        agent.press("#text", "Enter")
        visitor.until(lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent")
        assert NOTE not in json.dumps(visitor.frames)
        assert serious(agent) == []

        # Alt+E asks for the wrap-up; Escape leaves the chat open.
        agent.keyboard.press("Alt+E")
        dialog = agent.locator("#wrap-up")
        expect(dialog).to_be_visible()
        expect(dialog.locator("h2")).to_have_text(words["end_title"])
        expect(dialog.locator("#wrap-up-tags label")).to_have_count(2)
        assert serious(agent) == []
        agent.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(agent.locator("#composer")).to_be_visible()

        # Without a reason the dialog says so; by keyboard: reason, a tag, end.
        agent.keyboard.press("Alt+E")
        expect(dialog).to_be_visible()
        dialog.locator("#wrap-up-submit").press("Enter")
        expect(dialog.locator("#wrap-up-error")).to_have_text(words["required"])
        expect(dialog.locator("input[name=reason]").first).to_be_focused()
        agent.keyboard.press("Space")  # the first reason
        agent.keyboard.press("Tab")
        agent.keyboard.press("Space")  # the first tag
        dialog.locator("#wrap-up-submit").focus()
        agent.keyboard.press("Enter")
        visitor.until(lambda f: f["type"] == "conversation.closed")
        expect(dialog).to_be_hidden()
        expect(agent.locator("#chat-closed")).to_be_visible()
        expect(agent.locator("#wrap-up-summary")).to_contain_text(words["reason"])
        expect(agent.locator("#wrap-up-summary")).to_contain_text(words["tag"])
        assert NOTE not in json.dumps(visitor.frames)
        visitor.ws.close()

        # The visitor ends the next chat first; the agent wraps it up afterwards.
        agent.locator("#dismiss").click()
        second = _start_chat(agent, chat_server, "One more thing")
        second.send({"type": "conversation.end"})
        second.until(lambda f: f["type"] == "conversation.closed")
        opener = agent.locator("#wrap-up-open")
        expect(opener).to_be_visible()
        opener.focus()
        agent.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        agent.keyboard.press("ArrowDown")  # the second reason, chosen with the arrow key
        dialog.locator("#wrap-up-submit").focus()
        agent.keyboard.press("Enter")
        expect(agent.locator("#alert")).to_have_text(words["saved"])
        expect(agent.locator("#wrap-up-summary")).not_to_contain_text(words["tag"])
        assert serious(agent) == []
        second.ws.close()

    first, later = Conversation.objects.order_by("id")
    assert first.wrap_up_reason == reason and list(first.tags.all()) == [fees]
    assert first.closed_by == "agent"
    assert later.wrap_up_reason.name_en == "Referred" and later.tags.count() == 0
    assert later.closed_by == "visitor"
    assert Message.objects.get(sender="note").text == NOTE
