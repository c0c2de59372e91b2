"""An event reaches every member of its group in a process as one decoded object
(realtime/layer_adapter.py): a socket handling it must only read it."""

from __future__ import annotations

import copy

import pytest

from chat.consumers import VisitorConsumer
from chat.models import Conversation

pytestmark = pytest.mark.asyncio

EVENTS = [
    {"type": "message.new", "conversation_id": 1, "message": {"id": 5, "sender": "agent"}},
    {"type": "message.new", "conversation_id": 1, "message": {"id": 6, "sender": "note"}},
    {"type": "typing", "conversation_id": 1, "sender": "agent", "active": True},
    {
        "type": "queue.changed",
        "items": [{"id": 1, "position": 2, "estimate": {"kind": "minutes", "minutes": 3}}],
    },
    {"type": "conversation.updated", "conversation": {"id": 1, "status": "waiting"}},
    {"type": "availability", "agents_online": False},
    {"type": "message.read", "conversation_id": 1, "up_to_id": 5},
]


async def test_the_visitor_socket_only_reads_the_events_it_is_given(monkeypatch):
    socket = VisitorConsumer()
    socket.own_ids = {}
    socket.lang = "fi"
    socket.queue_said, socket.queue_said_of = "", ()
    socket.conversation = Conversation(pk=1, status=Conversation.Status.WAITING)
    sent = []

    async def send_json(frame):
        sent.append(frame)

    async def follow(on):
        pass

    socket.send_json = send_json
    monkeypatch.setattr(socket, "_follow_queue", follow)
    for event in EVENTS:
        message = {"type": "chat.event", "event": event, "published_at": 1.0}
        before = copy.deepcopy(message)
        await socket.chat_event(message)
        assert message == before, event["type"]
    assert [f["type"] for f in sent] == [
        "message.new",
        "typing",
        "queue.position",
        "conversation.updated",
        "availability",
        "message.read",
    ]
