"""Application logs never hold a visitor's IP address, token or message text."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone

from retention import purge as retention
from tests.conftest import visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

IP = "198.51.100.77"
TEXT = "my account number is FI2112345600000785"
SECOND_TEXT = "and my phone is +358401234567"
CONTEXT_VALUE = "customer-4711-secret"
PAGE = {"url": "https://www.example.org/private/path", "title": "Private", "referrer": ""}


async def _frames_until(comm, kind: str) -> dict:
    while True:
        frame = await comm.receive_json_from(timeout=10)
        if frame["type"] == kind:
            return frame


async def test_a_whole_chat_and_its_purge_leave_no_visitor_data_in_the_logs(agent_online, caplog):
    caplog.set_level(logging.DEBUG)
    comm = visitor_communicator(ip=IP)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to(
        {
            "type": "conversation.start",
            "text": TEXT,
            "client_msg_id": "c1",
            "page": PAGE,
            "context": {"customer": CONTEXT_VALUE},
        }
    )
    started = await _frames_until(comm, "conversation.started")
    token = started["token"]
    await _frames_until(comm, "message.ack")
    await comm.send_json_to({"type": "message.send", "text": SECOND_TEXT, "client_msg_id": "c2"})
    await _frames_until(comm, "message.ack")
    # Bad input takes the error paths, which log too.
    await comm.send_json_to({"type": "message.send", "text": "x" * 5000, "client_msg_id": "c3"})
    await _frames_until(comm, "error")
    await comm.send_json_to({"type": "page.view", "page": {"url": "javascript:" + TEXT}})
    await _frames_until(comm, "error")
    await comm.send_json_to({"type": "conversation.end"})
    await comm.disconnect()

    # The visitor comes back with the token, then is refused from a foreign origin.
    again = visitor_communicator(ip=IP)
    await again.connect()
    await again.send_json_to({"type": "hello", "token": token, "page": PAGE})
    await _frames_until(again, "welcome")
    await again.disconnect()
    refused = visitor_communicator(ip=IP, origin="https://evil.example")
    await refused.connect()

    later = timezone.now() + timedelta(days=200)
    with time_machine.travel(later, tick=False):
        outcome = await database_sync_to_async(retention.purge_expired)()
    # The two messages and the chat's "ended" event.
    assert outcome.deleted["chat.message"] == 3

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    # The capture works: the purge and the refused origin were logged.
    assert "retention purge done" in logged
    assert "origin not allowed" in logged
    for secret in (IP, token, TEXT, SECOND_TEXT, CONTEXT_VALUE, PAGE["url"]):
        assert secret not in logged
