"""Internal notes: staff write them in a chat through the real console socket; the visitor's
socket never gets one, live or on resume, and the consoles following the chat do."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat.models import Conversation, Message
from realtime import events
from tests.conftest import agent_communicator, receive_type, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CODE = "131052-308T"
NOTE = f"Caller sounded upset; asked about invoice. Hetu {CODE}"


async def chat_with_agent(agent_user):
    """A visitor's socket and a console that has taken the visitor's chat."""
    visitor = visitor_communicator()
    assert (await visitor.connect())[0]
    await visitor.send_json_to({"type": "conversation.start", "text": "Hei", "client_msg_id": "v1"})
    started = await receive_type(visitor, "conversation.started")
    console = await database_sync_to_async(agent_communicator)(agent_user)
    assert (await console.connect())[0]
    await console.send_json_to({"type": "hello"})
    await receive_type(console, "welcome")
    conv_id = started["conversation"]["id"]
    await console.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await receive_type(console, "conversation.claim.ok")
    return visitor, console, started


async def _frames_until(comm, stop, limit: int = 50) -> list[dict]:
    """Every frame `comm` receives up to and including the first for which `stop` is true."""
    seen = []
    for _ in range(limit):
        frame = await comm.receive_json_from(timeout=5)
        seen.append(frame)
        if stop(frame):
            return seen
    raise AssertionError("the awaited frame never came")


def _is_agent_message(text: str):
    def stop(frame: dict) -> bool:
        message = frame.get("message") or {}
        return frame["type"] == "message.new" and message.get("text") == text

    return stop


async def test_a_note_reaches_the_consoles_and_never_the_visitor_socket(agent_online):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    # A second tab of the same agent follows the chat too.
    other_tab = await database_sync_to_async(agent_communicator)(agent_online)
    assert (await other_tab.connect())[0]
    await other_tab.send_json_to({"type": "hello"})
    await receive_type(other_tab, "welcome")

    await console.send_json_to(
        {"type": "note.send", "conversation_id": conv_id, "text": NOTE, "client_msg_id": "n1"}
    )
    ack = await receive_type(console, "message.ack")
    assert ack["message"]["sender"] == "note"
    assert CODE not in ack["message"]["text"]  # the identifier guard ran on the note
    got = await receive_type(other_tab, "message.new")
    assert got["message"]["sender"] == "note" and got["message"]["id"] == ack["message"]["id"]

    # An agent message sent after the note: whatever the visitor got before it is all it got.
    await console.send_json_to(
        {"type": "message.send", "conversation_id": conv_id, "text": "after", "client_msg_id": "a1"}
    )
    live = await _frames_until(visitor, _is_agent_message("after"))
    assert "note" not in json.dumps(live) and "invoice" not in json.dumps(live)

    stored = await database_sync_to_async(Message.objects.get)(pk=ack["message"]["id"])
    assert stored.sender == "note" and stored.agent_id == agent_online.pk
    assert CODE not in stored.text and "invoice" in stored.text

    # A visitor coming back (another tab, a reconnect) resumes from the database: no note.
    again = visitor_communicator()
    assert (await again.connect())[0]
    await again.send_json_to({"type": "hello", "token": started["token"]})
    welcome = await receive_type(again, "welcome")
    await again.send_json_to({"type": "sync"})
    synced = await receive_type(again, "sync")
    senders = {m["sender"] for m in welcome["messages"] + synced["messages"]}
    assert senders == {"visitor", "system", "agent"}
    assert "invoice" not in json.dumps([welcome, synced])

    # A console coming back gets the note in its welcome.
    await console.send_json_to({"type": "hello"})
    console_welcome = await receive_type(console, "welcome")
    assert "note" in {m["sender"] for m in console_welcome["messages"]}
    for comm in (visitor, again, console, other_tab):
        await comm.disconnect()


async def test_a_note_published_to_the_conversation_by_mistake_is_still_not_forwarded(
    agent_online,
):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    note = {"id": 10**9, "conversation_id": conv_id, "sender": "note", "text": "internal"}
    layer = get_channel_layer()
    await layer.group_send(
        events.conversation_group(conv_id),
        events.envelope({"type": "message.new", "conversation_id": conv_id, "message": note}),
    )
    # The console (in the same group) got it, so the visitor's socket had it too. (The claim's
    # own "joined" line may come first.)
    got = await _frames_until(
        console, lambda f: f["type"] == "message.new" and f["message"]["id"] == 10**9
    )
    assert got[-1]["message"]["sender"] == "note"
    await console.send_json_to(
        {"type": "message.send", "conversation_id": conv_id, "text": "after", "client_msg_id": "a1"}
    )
    live = await _frames_until(visitor, _is_agent_message("after"))
    assert "internal" not in json.dumps(live)
    await visitor.disconnect()
    await console.disconnect()


async def test_only_the_agent_serving_the_chat_writes_notes_and_not_after_it_ends(
    agent_online, bob
):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    other = await database_sync_to_async(agent_communicator)(bob)
    assert (await other.connect())[0]
    await other.send_json_to(
        {"type": "note.send", "conversation_id": conv_id, "text": "x", "client_msg_id": "b1"}
    )
    assert (await receive_type(other, "error"))["code"] == "not_found"

    # The visitor cannot write one: the frame does not exist on its socket.
    await visitor.send_json_to({"type": "note.send", "text": "x", "client_msg_id": "v9"})
    assert (await receive_type(visitor, "error"))["code"] == "unknown_type"

    await console.send_json_to({"type": "conversation.close", "conversation_id": conv_id})
    await receive_type(console, "conversation.closed")
    await console.send_json_to(
        {"type": "note.send", "conversation_id": conv_id, "text": "late", "client_msg_id": "n2"}
    )
    assert (await receive_type(console, "error"))["code"] == "closed"
    await console.send_json_to(
        {"type": "note.send", "conversation_id": conv_id, "text": "   ", "client_msg_id": "n3"}
    )
    assert (await receive_type(console, "error"))["code"] == "empty"
    notes = await database_sync_to_async(
        lambda: Message.objects.filter(conversation_id=conv_id, sender="note").count()
    )()
    assert notes == 0
    for comm in (visitor, console, other):
        await comm.disconnect()


async def test_a_resent_note_is_stored_once_and_is_no_first_response(agent_online):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    frame = {"type": "note.send", "conversation_id": conv_id, "text": "n", "client_msg_id": "n1"}
    await console.send_json_to(frame)
    first = await receive_type(console, "message.ack")
    await console.send_json_to(frame)
    second = await receive_type(console, "message.ack")
    assert first["message"]["id"] == second["message"]["id"]
    conv = await database_sync_to_async(Conversation.objects.get)(pk=conv_id)
    assert conv.first_response_at is None
    count = await database_sync_to_async(
        lambda: Message.objects.filter(conversation_id=conv_id, sender="note").count()
    )()
    assert count == 1
    await asyncio.gather(visitor.disconnect(), console.disconnect())


async def test_a_chat_transferred_to_a_colleague_keeps_its_notes_for_them_only(agent_online, bob):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    await console.send_json_to(
        {"type": "note.send", "conversation_id": conv_id, "text": NOTE, "client_msg_id": "n1"}
    )
    await receive_type(console, "message.ack")
    colleague = await database_sync_to_async(agent_communicator)(bob)
    assert (await colleague.connect())[0]
    await colleague.send_json_to({"type": "presence.set", "status": "online"})
    await receive_type(colleague, "presence")
    await console.send_json_to(
        {"type": "conversation.transfer", "conversation_id": conv_id, "agent_id": bob.pk}
    )
    await receive_type(colleague, "conversation.transferred")
    await colleague.send_json_to({"type": "conversation.detail", "conversation_id": conv_id})
    detail = await receive_type(colleague, "conversation.detail")
    notes = [m for m in detail["messages"] if m["sender"] == "note"]
    assert [n["author_name"] for n in notes] == ["Alice Agent"]
    # Bob now writes notes and Alice, no longer serving the chat, does not.
    await colleague.send_json_to(
        {
            "type": "note.send",
            "conversation_id": conv_id,
            "text": "Refund checked by Bob",
            "client_msg_id": "n2",
        }
    )
    assert (await receive_type(colleague, "message.ack"))["message"]["author_name"] == "Bob Builder"
    await console.send_json_to(
        {"type": "note.send", "conversation_id": conv_id, "text": "late", "client_msg_id": "n3"}
    )
    assert (await receive_type(console, "error"))["code"] == "not_found"
    await colleague.send_json_to(
        {"type": "message.send", "conversation_id": conv_id, "text": "after", "client_msg_id": "b1"}
    )
    live = await _frames_until(visitor, _is_agent_message("after"))
    assert "invoice" not in json.dumps(live) and "Refund checked" not in json.dumps(live)
    for comm in (visitor, console, colleague):
        await comm.disconnect()
