"""Routing on the console's socket: an offer arrives, is accepted or passed; a chat goes to a
topic; a new login starts with the presence the agent last chose."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from agents.models import AgentProfile
from agents.services import presence_expire, presence_set
from chat.models import Conversation, Topic
from tests.conftest import agent_communicator, receive_type, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def offer_mode(settings):
    settings.CHAT_ROUTING = "offer"


async def _console(user):
    agent = await database_sync_to_async(agent_communicator)(user)
    connected, _ = await agent.connect()
    assert connected
    await agent.send_json_to({"type": "hello"})
    welcome = await receive_type(agent, "welcome")
    return agent, welcome


async def _visitor_chat(text="Hei"):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "conversation.start", "text": text, "client_msg_id": "v1"})
    started = await receive_type(visitor, "conversation.started")
    return visitor, started["conversation"]["id"]


async def test_a_new_chat_is_offered_to_the_online_agent_who_accepts_it(agent_online):
    agent, welcome = await _console(agent_online)
    assert welcome["routing"] == "offer" and welcome["me"]["capacity"] == 3
    visitor, conv_id = await _visitor_chat()
    offer = await receive_type(agent, "conversation.offered")
    assert offer["conversation_id"] == conv_id and offer["agent_id"] == agent_online.pk
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    claimed = await receive_type(agent, "conversation.claim.ok")
    assert claimed["conversation"]["agent_id"] == agent_online.pk
    await agent.disconnect()
    await visitor.disconnect()


async def test_a_passed_offer_goes_to_the_colleague(agent_online, bob):
    await database_sync_to_async(AgentProfile.objects.create)(user=bob, presence="online")
    agent, _ = await _console(agent_online)
    visitor, conv_id = await _visitor_chat()
    offer = await receive_type(agent, "conversation.offered")
    assert offer["agent_id"] == agent_online.pk
    await agent.send_json_to({"type": "offer.decline", "conversation_id": conv_id})
    passed = await receive_type(agent, "conversation.offer_passed")
    assert passed["agent_id"] == agent_online.pk
    again = await receive_type(agent, "conversation.offered")
    assert again["agent_id"] == bob.pk
    # Nothing to decline any more.
    await agent.send_json_to({"type": "offer.decline", "conversation_id": conv_id, "ref": 1})
    error = await receive_type(agent, "error")
    assert error["code"] == "not_found"
    await agent.disconnect()
    await visitor.disconnect()


async def test_an_agent_transfers_a_chat_to_a_topic_and_it_keeps_its_history(agent_online, bob):
    payments = await database_sync_to_async(Topic.objects.create)(
        slug="payments", name_fi="Maksut", name_sv="Betalningar", name_en="Payments"
    )
    await database_sync_to_async(payments.agents.add)(bob)
    await database_sync_to_async(AgentProfile.objects.create)(user=bob, presence="online")
    agent, _ = await _console(agent_online)
    visitor, conv_id = await _visitor_chat()
    await receive_type(agent, "conversation.offered")
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await receive_type(agent, "conversation.claim.ok")
    await agent.send_json_to(
        {"type": "conversation.transfer", "conversation_id": conv_id, "topic_id": payments.pk}
    )
    queued = await receive_type(agent, "queue.added")
    assert queued["conversation"]["id"] == conv_id
    assert queued["conversation"]["topic_id"] == payments.pk
    assert queued["conversation"]["first_message"] == "Hei"
    offer = await receive_type(agent, "conversation.offered")
    assert offer["agent_id"] == bob.pk
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=conv_id)
    assert conversation.status == "waiting" and conversation.topic_id == payments.pk
    assert conversation.assigned_agent_id is None
    kinds = await database_sync_to_async(
        lambda: [(m.sender, m.event) for m in conversation.messages.order_by("id")]
    )()
    assert kinds == [("visitor", ""), ("system", "joined"), ("system", "transferred")]
    updated = await receive_type(visitor, "conversation.updated", limit=30)
    while updated["conversation"]["status"] != "waiting":
        updated = await receive_type(visitor, "conversation.updated", limit=30)
    await agent.disconnect()
    await visitor.disconnect()


async def test_an_unknown_topic_transfer_is_refused_and_the_chat_stays(agent_online):
    agent, _ = await _console(agent_online)
    visitor, conv_id = await _visitor_chat()
    await agent.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await receive_type(agent, "conversation.claim.ok")
    await agent.send_json_to(
        {"type": "conversation.transfer", "conversation_id": conv_id, "topic_id": 999999}
    )
    assert (await receive_type(agent, "error"))["code"] == "not_found"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=conv_id)
    assert conversation.status == "active" and conversation.assigned_agent_id == agent_online.pk
    await agent.disconnect()
    await visitor.disconnect()


@pytest.mark.parametrize("chosen", ["online", "away", "offline"])
async def test_a_new_login_starts_with_the_presence_last_chosen(alice, chosen, settings):
    settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS = 0

    def choose_then_leave():
        presence_set(user=alice, presence=chosen)
        # The console closed: the presence expires, the choice stays.
        AgentProfile.objects.filter(user=alice).update(
            presence_seen_at=AgentProfile.objects.get(user=alice).presence_seen_at.replace(
                year=2000
            )
        )
        presence_expire(user=alice)

    await database_sync_to_async(choose_then_leave)()
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=alice)
    assert profile.presence == "offline" and profile.chosen_presence == chosen
    agent, welcome = await _console(alice)
    assert welcome["me"]["presence"] == chosen
    await agent.disconnect()
