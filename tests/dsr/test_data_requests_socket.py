"""An erasure closes the visitor's open chat: the widget learns it at once and stops."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation
from dsr import data_requests as dsr
from realtime.protocol import Close
from tests.conftest import visitor_communicator
from tests.dsr.test_data_requests import rows_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PAGE = {"url": "https://www.example.org/courses/", "title": "Courses", "referrer": ""}


def _erase(reference: str, actor) -> dict[str, int]:
    conversation = dsr.conversation_by_reference(reference)
    return dsr.visitor_data_erase(conversation=conversation, request_id="DSR-9", actor=actor)


async def test_an_erasure_closes_the_visitors_websocket_and_leaves_no_row(agent_online, dana):
    comm = visitor_communicator()
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to(
        {
            "type": "conversation.start",
            "text": "Please erase me later",
            "client_msg_id": "c1",
            "page": PAGE,
            "context": {"course": "A-1"},
        }
    )
    started = await comm.receive_json_from(timeout=10)
    await comm.receive_json_from(timeout=10)  # the message's ack
    reference = started["conversation"]["reference"]
    conversation_id = started["conversation"]["id"]

    await database_sync_to_async(_erase)(reference, dana)

    frame = await comm.receive_json_from(timeout=10)
    while frame["type"] != "conversation.erased":
        frame = await comm.receive_json_from(timeout=10)
    assert frame == {
        "type": "conversation.erased",
        "conversation_id": conversation_id,
        "by": "request",
    }
    closed = await comm.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": Close.ERASED}
    counts = await database_sync_to_async(rows_of)(conversation_id)
    assert set(counts.values()) == {0}

    # The visitor's stored token no longer opens anything.
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to({"type": "hello", "token": started["token"]})
    error = await again.receive_json_from(timeout=10)
    assert error["type"] == "error" and error["code"] == "bad_token"
    assert not await database_sync_to_async(Conversation.objects.exists)()
    await again.disconnect()
