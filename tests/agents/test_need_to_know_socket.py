"""Need to know on the console socket: each role against every frame that returns a chat.

The socket acts only on the chats assigned to the agent; a frame about any other chat gets the
same `not_found` as a chat that does not exist (reading past chats is the history's business).
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from agents.roles import AGENT, TEAM_LEAD
from chat import services
from chat.models import Conversation, Message, hash_token
from helao_chat.asgi import application
from tests.conftest import ORIGIN, Socket, _user, agent_communicator, receive_type

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MISSING = 987_654_321


def _frames(conversation_id: int) -> list[dict]:
    return [
        {"type": "conversation.detail", "conversation_id": conversation_id},
        {"type": "sync", "conversation_id": conversation_id},
        {"type": "conversation.claim", "conversation_id": conversation_id},
        {
            "type": "message.send",
            "conversation_id": conversation_id,
            "text": "hello?",
            "client_msg_id": f"m{conversation_id}",
        },
        {"type": "typing", "conversation_id": conversation_id, "active": True},
        {"type": "conversation.transfer", "conversation_id": conversation_id, "agent_id": 1},
        {"type": "conversation.close", "conversation_id": conversation_id},
    ]


def _setup(alice, bob, dana) -> dict:
    """Bob serves two chats: one he took over from alice, one closed; both carry visitor text."""
    handed = Conversation.objects.create(token_hash=hash_token("handed"))
    Message.objects.create(conversation=handed, sender="visitor", text="secret of handed")
    services.conversation_claim(conversation_id=handed.pk, agent=alice)
    handed.refresh_from_db()
    services.conversation_transfer(conversation=handed, from_agent=alice, to_agent=bob)
    closed = Conversation.objects.create(
        token_hash=hash_token("closed"), status=Conversation.Status.CLOSED, assigned_agent=bob
    )
    Message.objects.create(conversation=closed, sender="visitor", text="secret of closed")
    return {
        "handed": handed.pk,
        "closed": closed.pk,
        "users": {
            "took_part_before": alice,
            "outsider": _user("olli", group=AGENT),
            "team_lead": _user("tess", group=TEAM_LEAD),
            "director": dana,
        },
    }


async def _answers(comm, frames: list[dict]) -> list[dict]:
    answers = []
    for frame in frames:
        await comm.send_json_to({**frame, "ref": "r"})
        error = await receive_type(comm, "error")
        answers.append({k: v for k, v in error.items() if k != "message"})
    return answers


@pytest.mark.parametrize("role", ["took_part_before", "outsider", "team_lead", "director"])
async def test_every_frame_about_a_chat_not_assigned_is_answered_as_if_it_did_not_exist(
    role, alice, bob, dana
):
    world = await database_sync_to_async(_setup)(alice, bob, dana)
    comm = await database_sync_to_async(agent_communicator)(world["users"][role])
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "hello"})
    welcome = await receive_type(comm, "welcome")
    assert welcome["chats"] == [] and welcome["messages"] == []
    missing = await _answers(comm, _frames(MISSING))
    assert all(a["code"] == "not_found" for a in missing), missing
    assert await _answers(comm, _frames(world["closed"])) == missing
    # An active chat was in every console's queue and its claim announced to all: a claim of it
    # says that a colleague took it, which every console already knows; nothing else does.
    claim = {"type": "error", "code": "already_taken", "ref": "r"}
    expected = [
        claim if f["type"] == "conversation.claim" else a
        for f, a in zip(_frames(MISSING), missing, strict=True)
    ]
    assert await _answers(comm, _frames(world["handed"])) == expected
    await comm.send_json_to({"type": "list.page", "list": "chats"})
    page = await receive_type(comm, "list.page")
    assert page["chats"] == [] and page["details"] == {}
    await comm.disconnect()
    handed = await database_sync_to_async(Conversation.objects.get)(pk=world["handed"])
    assert (handed.status, handed.assigned_agent_id) == ("active", bob.pk)


async def test_a_colleague_who_lost_the_race_for_a_queued_chat_is_told_it_was_taken(alice, bob):
    def queued() -> int:
        conv = Conversation.objects.create(token_hash=hash_token("queued"))
        services.conversation_claim(conversation_id=conv.pk, agent=bob)
        return conv.pk

    conv_id = await database_sync_to_async(queued)()
    comm = await database_sync_to_async(agent_communicator)(alice)
    await comm.connect()
    await comm.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    assert (await receive_type(comm, "error"))["code"] == "already_taken"
    await comm.disconnect()


async def _close_code(comm) -> int | None:
    for _ in range(5):
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")
    raise AssertionError("the socket stayed open")


@pytest.mark.parametrize("role", ["unacknowledged", "no_role", "anonymous"])
async def test_the_socket_serves_nothing_without_role_guidance_or_login(role, alice, charlie):
    if role == "anonymous":
        comm = Socket(application, "/ws/agent/", headers=[(b"origin", ORIGIN.encode())])
    else:
        user = alice if role == "unacknowledged" else charlie
        comm = await database_sync_to_async(agent_communicator)(user, acknowledged=False)
    connected, code = await comm.connect()
    if connected:
        # Accepted only to say why (guidance), then closed before any frame is served.
        error = await comm.receive_json_from(timeout=5)
        assert error["code"] == "guidance_required"
        assert await _close_code(comm) == 4003
    else:
        assert code == 4003
    await comm.disconnect()
