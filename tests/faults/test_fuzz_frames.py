"""Arbitrary JSON frames never crash a consumer and always get a documented answer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.models import HostContext, Message
from tests.conftest import agent_communicator, visitor_communicator

# The error codes docs/protocol.md documents: every error a consumer sends must be one of them.
DOCUMENTED_ERRORS = set(
    re.findall(
        r"^\| `([a-z_]+)` \|",
        (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(),
        re.MULTILINE,
    )
)
VISITOR_TYPES = [
    "hello",
    "conversation.start",
    "message.send",
    "typing",
    "page.view",
    "context.set",
    "conversation.end",
    "sync",
    "ping",
]
AGENT_TYPES = [
    "hello",
    "presence.set",
    "conversation.claim",
    "message.send",
    "typing",
    "conversation.transfer",
    "conversation.close",
    "sync",
    "ping",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=60),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def frames(types):
    return st.fixed_dictionaries(
        {"type": st.sampled_from(types) | st.text(max_size=20)},
        optional={
            key: json_values
            for key in (
                "text",
                "client_msg_id",
                "token",
                "last_seen_id",
                "conversation_id",
                "page",
                "data",
                "context",
                "active",
                "status",
                "agent_id",
                "lang",
                "screen",
                "ref",
            )
        },
    )


async def _exchange(comm, batch) -> list[dict]:
    answers = []
    for frame in batch:
        await comm.send_json_to(frame)
        await comm.send_json_to({"type": "ping"})
        while True:
            out = await comm.receive_json_from(timeout=5)
            if out["type"] == "pong":
                break
            answers.append(out)
    return answers


def _check(answers) -> None:
    for answer in answers:
        assert "type" in answer
        if answer["type"] == "error":
            assert answer["code"] in DOCUMENTED_ERRORS, answer


def _stored_rows_are_valid() -> None:
    for message in Message.objects.all():
        assert 0 < len(message.text) <= 4000
        assert message.sender in ("visitor", "agent", "system")
    for ctx in HostContext.objects.all():
        assert isinstance(ctx.data, dict)


@pytest.mark.django_db(transaction=True)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames(VISITOR_TYPES), min_size=1, max_size=6))
def test_the_visitor_consumer_survives_any_json(agent_online, batch):
    async def run():
        comm = visitor_communicator()
        connected, _ = await comm.connect()
        assert connected
        answers = await _exchange(comm, batch)
        await comm.disconnect()
        return answers

    _check(asyncio.run(run()))
    _stored_rows_are_valid()


@pytest.mark.django_db(transaction=True)
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames(AGENT_TYPES), min_size=1, max_size=6))
def test_the_agent_consumer_survives_any_json(agent_online, batch):
    comm = agent_communicator(agent_online)

    async def run():
        connected, _ = await comm.connect()
        assert connected
        answers = await _exchange(comm, batch)
        await comm.disconnect()
        return answers

    _check(asyncio.run(run()))
    _stored_rows_are_valid()
