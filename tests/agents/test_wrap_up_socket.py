"""The wrap-up over the real console socket: with the close, in one transaction, or afterwards
when the visitor ended the chat first."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, Tag, WrapUpReason
from tests.chat.test_internal_notes import chat_with_agent
from tests.conftest import agent_communicator, receive_type

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def lists(db):
    return {
        "reason": WrapUpReason.objects.create(
            name_fi="Vastattu", name_sv="Besvarad", name_en="Answered"
        ),
        "tag": Tag.objects.create(name_fi="Maksut", name_sv="Avgifter", name_en="Fees"),
        "retired": Tag.objects.create(name_fi="X", name_sv="X", name_en="X", active=False),
    }


def _stored(conv_id: int):
    conv = Conversation.objects.get(pk=conv_id)
    return conv.status, conv.wrap_up_reason_id, sorted(conv.tags.values_list("pk", flat=True))


async def test_the_welcome_lists_the_active_choices_in_the_agents_language(agent_online, lists):
    visitor, console, _ = await chat_with_agent(agent_online)
    await console.send_json_to({"type": "hello"})
    welcome = await receive_type(console, "welcome")
    assert welcome["wrap_up"] == {
        "tags": [{"id": lists["tag"].pk, "name": "Maksut"}],
        "reasons": [{"id": lists["reason"].pk, "name": "Vastattu"}],
    }
    await visitor.disconnect()
    await console.disconnect()


async def test_a_refused_wrap_up_leaves_the_chat_open_and_a_good_one_ends_it(agent_online, lists):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    close = {"type": "conversation.close", "conversation_id": conv_id}
    await console.send_json_to(
        {**close, "wrap_up": {"reason_id": lists["reason"].pk, "tag_ids": [lists["retired"].pk]}}
    )
    assert (await receive_type(console, "error"))["code"] == "bad_wrap_up"
    await console.send_json_to({**close, "wrap_up": "Answered"})
    assert (await receive_type(console, "error"))["code"] == "bad_frame"
    assert await database_sync_to_async(_stored)(conv_id) == ("active", None, [])

    wrap_up = {"reason_id": lists["reason"].pk, "tag_ids": [lists["tag"].pk]}
    await console.send_json_to({**close, "wrap_up": wrap_up})
    told = await receive_type(console, "conversation.wrapped_up")
    assert told["wrap_up"] == wrap_up
    await receive_type(visitor, "conversation.closed")
    stored = await database_sync_to_async(_stored)(conv_id)
    assert stored == ("closed", lists["reason"].pk, [lists["tag"].pk])
    await visitor.disconnect()
    await console.disconnect()


async def test_the_agent_wraps_up_a_chat_the_visitor_ended(agent_online, bob, lists):
    visitor, console, started = await chat_with_agent(agent_online)
    conv_id = started["conversation"]["id"]
    await visitor.send_json_to({"type": "conversation.end"})
    await receive_type(console, "conversation.closed")
    frame = {
        "type": "conversation.wrap_up",
        "conversation_id": conv_id,
        "reason_id": lists["reason"].pk,
        "tag_ids": [],
    }
    await console.send_json_to(frame)
    await receive_type(console, "conversation.wrapped_up")
    assert await database_sync_to_async(_stored)(conv_id) == ("closed", lists["reason"].pk, [])
    # Nobody else's to wrap up.
    other = await database_sync_to_async(agent_communicator)(bob)
    assert (await other.connect())[0]
    await other.send_json_to({**frame, "reason_id": None})
    assert (await receive_type(other, "error"))["code"] == "not_found"
    assert await database_sync_to_async(_stored)(conv_id) == ("closed", lists["reason"].pk, [])
    for comm in (visitor, console, other):
        await comm.disconnect()
