"""The agent websocket: who may connect, when it is closed, presence, panel and catch-up."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from agents import consumers
from agents.models import AgentProfile
from agents.roles import AGENT
from helao_chat.asgi import application
from tests.conftest import (
    ORIGIN,
    Socket,
    agent_communicator,
    agent_session,
    receive_type,
    until,
    visitor_communicator,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PAGE = {"url": "https://shop.example/cart", "title": "Cart", "referrer": "https://search.example/"}


_receive_type = receive_type


async def _closed(comm, limit=20) -> int:
    """Reads frames until the server closes the socket; returns the close code."""
    for _ in range(limit):
        output = await comm.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return output.get("code")
    raise AssertionError("the socket stayed open")


def _logged_in_socket(user, *, origin=ORIGIN):
    """A console socket plus the browser session behind it, to log out of."""
    return agent_session(user, origin=origin)


async def _start_chat(text="Hei, tilaukseni?"):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to(
        {
            "type": "conversation.start",
            "text": text,
            "client_msg_id": "v1",
            "page": PAGE,
            "screen": "1920x1080",
            "lang": "fi-FI",
            "context": {"customer": "A-17"},
        }
    )
    started = await _receive_type(visitor, "conversation.started")
    return visitor, started["conversation"]["id"]


# --- who may connect -------------------------------------------------------------------------


async def test_anonymous_sockets_are_refused(db):
    comm = Socket(
        application, "/ws/agent/", headers=[(b"origin", ORIGIN.encode()), (b"host", b"testserver")]
    )
    connected, _ = await comm.connect()
    assert not connected


@pytest.mark.parametrize("user_fixture", ["alice", "dana"])
async def test_agents_and_directors_connect_and_get_the_console_state(user_fixture, request):
    user = await database_sync_to_async(request.getfixturevalue)(user_fixture)
    comm = await database_sync_to_async(agent_communicator)(user)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "hello"})
    welcome = await _receive_type(comm, "welcome")
    assert welcome["me"]["id"] == user.pk
    assert {"queue", "chats", "agents", "canned", "details", "messages"} <= set(welcome)
    await comm.disconnect()


async def test_a_socket_from_another_origin_is_refused(alice):
    comm = await database_sync_to_async(agent_communicator)(alice, origin="https://evil.example")
    connected, _ = await comm.connect()
    assert not connected


async def test_an_agent_who_has_not_acknowledged_the_guidance_gets_no_queue(alice):
    comm = await database_sync_to_async(agent_communicator)(alice, acknowledged=False)
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from(timeout=5)
    assert error["code"] == "guidance_required"
    assert await _closed(comm) == 4003


# --- the socket is closed when access ends ---------------------------------------------------


async def test_logging_out_closes_the_console_socket(alice):
    client, comm = await database_sync_to_async(_logged_in_socket)(alice)
    assert (await comm.connect())[0]
    await database_sync_to_async(client.post)("/console/logout/")
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "session.ended"
    assert await _closed(comm) == 4003


async def test_logging_out_elsewhere_leaves_this_browser_signed_in(alice):
    _, comm = await database_sync_to_async(_logged_in_socket)(alice)
    other, other_comm = await database_sync_to_async(_logged_in_socket)(alice)
    assert (await comm.connect())[0]
    assert (await other_comm.connect())[0]
    await database_sync_to_async(other.post)("/console/logout/")
    assert await _closed(other_comm) == 4003
    await comm.send_json_to({"type": "ping"})
    assert (await _receive_type(comm, "pong"))["type"] == "pong"
    await comm.disconnect()


async def test_a_deactivated_users_open_socket_is_closed(alice):
    comm = await database_sync_to_async(agent_communicator)(alice)
    assert (await comm.connect())[0]

    def deactivate():
        alice.is_active = False
        alice.save(update_fields=["is_active"])

    await database_sync_to_async(deactivate)()
    assert await _closed(comm) == 4003


async def test_access_taken_away_while_the_socket_opens_is_not_missed(alice, monkeypatch):
    # The change commits (and is announced) while the socket's own access check runs, before
    # it is accepted: the socket is already subscribed to the account's events, so it closes at
    # once instead of at the next recheck.
    from agents import selectors

    real = selectors.can_use_console

    def check_then_lose_access(user):
        allowed = real(user)
        account = get_user_model().objects.get(pk=user.pk)
        account.is_active = False
        account.save(update_fields=["is_active"])
        return allowed

    monkeypatch.setattr(selectors, "can_use_console", check_then_lose_access)
    comm = await database_sync_to_async(agent_communicator)(alice)
    assert (await comm.connect())[0]
    monkeypatch.setattr(selectors, "can_use_console", real)
    assert await _closed(comm) == 4003


async def test_removing_the_agent_role_closes_the_socket(alice):
    comm = await database_sync_to_async(agent_communicator)(alice)
    assert (await comm.connect())[0]

    def remove_role():
        alice.groups.remove(Group.objects.get(name=AGENT))

    await database_sync_to_async(remove_role)()
    assert await _closed(comm) == 4003


async def test_the_periodic_recheck_notices_a_role_losing_its_permission(alice, settings):
    # Changing a group's permissions announces nothing per user; the recheck catches it.
    settings.AGENT_SOCKET_RECHECK_SECONDS = 0.2
    comm = await database_sync_to_async(agent_communicator)(alice)
    assert (await comm.connect())[0]

    def strip_group():
        group = Group.objects.get(name=AGENT)
        perm = Permission.objects.get(codename="use_console")
        # Straight through the table: no signal at all, only the recheck can notice.
        group.permissions.through.objects.filter(group=group, permission=perm).delete()

    await database_sync_to_async(strip_group)()
    assert await _closed(comm) == 4003


async def test_users_without_the_permission_cannot_connect_even_as_staff(charlie):
    comm = await database_sync_to_async(agent_communicator)(charlie)
    connected, _ = await comm.connect()
    assert not connected


# --- presence and availability ---------------------------------------------------------------


async def test_presence_is_shown_to_colleagues_and_visitors_follow_availability(
    alice, bob, settings
):
    settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS = 1
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "hello"})
    assert (await _receive_type(visitor, "welcome"))["agents_online"] is False
    colleague = await database_sync_to_async(agent_communicator)(bob)
    await colleague.connect()
    comm = await database_sync_to_async(agent_communicator)(alice)
    await comm.connect()
    await comm.send_json_to({"type": "presence.set", "status": "online"})
    seen = await _receive_type(colleague, "presence")
    assert seen["agent"] == {"id": alice.pk, "name": "Alice Agent", "presence": "online"}
    assert (await _receive_type(visitor, "availability"))["agents_online"] is True
    # Closing the last tab: offline after the grace period, and visitors are told.
    await comm.disconnect()
    assert (await _receive_type(visitor, "availability"))["agents_online"] is False
    gone = await _receive_type(colleague, "presence")
    assert gone["agent"]["presence"] == "offline"
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=alice)
    assert profile.presence == "offline"
    await colleague.disconnect()
    await visitor.disconnect()


async def test_another_open_tab_keeps_the_agent_online(alice, settings):
    settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS = 1
    first = await database_sync_to_async(agent_communicator)(alice)
    second = await database_sync_to_async(agent_communicator)(alice)
    await first.connect()
    await second.connect()
    await first.send_json_to({"type": "presence.set", "status": "online"})
    await _receive_type(second, "presence")
    await first.disconnect()
    expiries = list(consumers._pending_expiries)
    assert expiries, "the closed tab scheduled its presence expiry"
    # The remaining tab's heartbeats keep the presence fresh until that expiry has run.
    while not all(expiry.done() for expiry in expiries):
        await second.send_json_to({"type": "presence.set", "status": "online"})
        await second.send_json_to({"type": "ping"})
        await _receive_type(second, "pong")
        await asyncio.wait(expiries, timeout=0.3)
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=alice)
    assert profile.presence == "online"
    await second.disconnect()


async def test_a_bad_presence_is_an_error_frame(alice):
    comm = await database_sync_to_async(agent_communicator)(alice)
    await comm.connect()
    await comm.send_json_to({"type": "presence.set", "status": "asleep"})
    assert (await _receive_type(comm, "error"))["code"] == "bad_frame"
    await comm.disconnect()


# --- queue, visitor panel, transfer, catch-up ------------------------------------------------


async def test_the_queue_shows_the_first_message_and_page_and_the_claim_brings_the_panel(
    agent_online, settings
):
    settings.CHAT_CONTEXT_KEYS = ["customer"]
    comm = await database_sync_to_async(agent_communicator)(agent_online)
    await comm.connect()
    await comm.send_json_to({"type": "hello"})
    await _receive_type(comm, "welcome")
    visitor, conv_id = await _start_chat()
    added = await _receive_type(comm, "queue.added")
    item = added["conversation"]
    assert item["id"] == conv_id
    assert item["first_message"] == "Hei, tilaukseni?"
    assert item["current_page"]["url"] == PAGE["url"]
    await comm.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    ok = await _receive_type(comm, "conversation.claim.ok")
    panel = ok["detail"]
    assert panel["ip_address"] == "203.0.113.7"
    assert panel["browser"] == "Firefox"
    assert panel["os"] == "Linux"
    assert panel["device_type"] == "desktop"
    assert panel["screen"] == "1920x1080"
    assert panel["language"] == "fi-FI"
    assert panel["referrer"] == PAGE["referrer"]
    assert panel["context"] == {"customer": "A-17"}
    assert [p["url"] for p in panel["pages"]] == [PAGE["url"]]
    await visitor.send_json_to(
        {"type": "page.view", "page": {"url": "https://shop.example/help", "title": "Help"}}
    )
    seen = await _receive_type(comm, "page.view")
    assert seen["page"]["url"] == "https://shop.example/help"
    await visitor.send_json_to({"type": "typing", "active": True})
    typing = await _receive_type(comm, "typing")
    assert typing["sender"] == "visitor"
    await comm.send_json_to({"type": "typing", "conversation_id": conv_id, "active": True})
    shown = await _receive_type(visitor, "typing")
    assert (shown["sender"], shown["name"], shown["active"]) == ("agent", "Alice Agent", True)
    await comm.disconnect()
    await visitor.disconnect()


async def test_a_message_sent_while_the_agent_was_away_is_caught_up(agent_online):
    visitor, conv_id = await _start_chat()
    comm = await database_sync_to_async(agent_communicator)(agent_online)
    await comm.connect()
    await comm.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    ok = await _receive_type(comm, "conversation.claim.ok")
    last_seen = max(m["id"] for m in ok["messages"])
    await comm.disconnect()
    await visitor.send_json_to(
        {"type": "message.send", "text": "Are you there?", "client_msg_id": "v2"}
    )
    await _receive_type(visitor, "message.ack")
    again = await database_sync_to_async(agent_communicator)(agent_online)
    await again.connect()
    await again.send_json_to({"type": "hello", "last_seen_id": last_seen})
    welcome = await _receive_type(again, "welcome")
    assert "Are you there?" in [m["text"] for m in welcome["messages"]]
    assert [c["id"] for c in welcome["chats"]] == [conv_id]
    assert welcome["details"][str(conv_id)]["current_page"]["url"] == PAGE["url"]
    await again.disconnect()
    await visitor.disconnect()


async def test_a_chat_goes_only_to_a_colleague_who_is_online_and_the_visitor_is_told(
    agent_online, bob
):
    visitor, conv_id = await _start_chat()
    comm = await database_sync_to_async(agent_communicator)(agent_online)
    await comm.connect()
    await comm.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await _receive_type(comm, "conversation.claim.ok")
    transfer = {"type": "conversation.transfer", "conversation_id": conv_id, "agent_id": bob.pk}
    await comm.send_json_to(transfer)
    assert (await _receive_type(comm, "error"))["code"] == "agent_offline"
    other = await database_sync_to_async(agent_communicator)(bob)
    await other.connect()
    await other.send_json_to({"type": "presence.set", "status": "online"})
    await _receive_type(other, "presence")
    await comm.send_json_to(transfer)
    moved = await _receive_type(other, "conversation.transferred")
    assert moved["conversation"]["agent_id"] == bob.pk
    while True:
        frame = await _receive_type(visitor, "message.new")
        if (frame["message"]["event"] or {}).get("kind") == "transferred":
            break
    # A fact, told by each side in its own language.
    assert frame["message"]["event"] == {
        "kind": "transferred",
        "name": "Bob Builder",
        "from": "Alice Agent",
    }
    await other.send_json_to({"type": "conversation.detail", "conversation_id": conv_id})
    detail = await _receive_type(other, "conversation.detail")
    assert detail["messages"][0]["text"] == "Hei, tilaukseni?"
    # The first agent no longer has it.
    await comm.send_json_to(
        {"type": "message.send", "conversation_id": conv_id, "text": "x", "client_msg_id": "a9"}
    )
    assert (await _receive_type(comm, "error"))["code"] == "not_found"
    await other.send_json_to({"type": "conversation.close", "conversation_id": conv_id})
    assert (await _receive_type(visitor, "conversation.closed"))["conversation"][
        "status"
    ] == "closed"
    for c in (comm, other, visitor):
        await c.disconnect()


async def test_another_agents_chat_cannot_be_read_or_closed(agent_online, bob):
    visitor, conv_id = await _start_chat()
    comm = await database_sync_to_async(agent_communicator)(agent_online)
    await comm.connect()
    await comm.send_json_to({"type": "conversation.claim", "conversation_id": conv_id})
    await _receive_type(comm, "conversation.claim.ok")
    other = await database_sync_to_async(agent_communicator)(bob)
    await other.connect()
    for frame in (
        {"type": "conversation.detail", "conversation_id": conv_id},
        {"type": "conversation.close", "conversation_id": conv_id},
        {"type": "typing", "conversation_id": conv_id, "active": True},
    ):
        await other.send_json_to(frame)
        assert (await _receive_type(other, "error"))["code"] == "not_found"
    for c in (comm, other, visitor):
        await c.disconnect()


async def test_the_queue_is_oldest_first(agent_online):
    first, first_id = await _start_chat("First")
    second, second_id = await _start_chat("Second")
    comm = await database_sync_to_async(agent_communicator)(agent_online)
    await comm.connect()
    await comm.send_json_to({"type": "hello"})
    welcome = await _receive_type(comm, "welcome")
    assert [(q["id"], q["first_message"]) for q in welcome["queue"]] == [
        (first_id, "First"),
        (second_id, "Second"),
    ]
    for c in (comm, first, second):
        await c.disconnect()


async def test_heartbeats_of_many_consoles_run_one_at_a_time(alice, bob, monkeypatch):
    # Housekeeping units queue for one database thread per process, so that a burst of them
    # (every console reconnecting at once) cannot crowd out the chats' own work.

    running, most, units = 0, 0, 0

    def one_at_a_time(real):
        def unit(**kwargs):
            nonlocal running, most, units
            running += 1
            units += 1
            most = max(most, running)
            time.sleep(0.05)
            running -= 1
            return real(**kwargs)

        return unit

    # A presence that changes takes the full way in a thread (with the message writer, after
    # its one-statement refresh found nothing to refresh).
    for name in ("presence_heartbeat", "presence_set"):
        monkeypatch.setattr(consumers, name, one_at_a_time(getattr(consumers, name)))
    comms = []
    for user in (alice, bob, alice, bob):
        comm = await database_sync_to_async(agent_communicator)(user)
        assert (await comm.connect())[0]
        comms.append(comm)
    for comm in comms:
        await comm.send_json_to({"type": "presence.set", "status": "online"})
    for comm in comms:
        await _receive_type(comm, "presence")
    await until(lambda: units >= 2 and running == 0)
    assert most == 1  # a second tab may find its presence fresh already
    for comm in comms:
        await comm.disconnect()


async def test_a_message_stored_while_the_console_resumes_reaches_the_console(alice, monkeypatch):
    """The console follows the agent's chats before reading their messages: a visitor message
    stored right after the read still arrives, live, after the welcome."""
    from asgiref.sync import async_to_sync

    from chat import services
    from chat.models import Conversation, Message, hash_token

    chat = await database_sync_to_async(Conversation.objects.create)(
        token_hash=hash_token("resume-race-token"),
        status=Conversation.Status.ACTIVE,
        assigned_agent=alice,
    )
    real = consumers._console_state

    def state_then_the_visitor_writes(*args, **kwargs):
        welcome = real(*args, **kwargs)
        async_to_sync(services.message_send)(
            conversation_id=chat.pk,
            sender=Message.Sender.VISITOR,
            text="Meanwhile",
            client_msg_id="visitor-1",
            batched=False,
        )
        return welcome

    monkeypatch.setattr(consumers, "_console_state", state_then_the_visitor_writes)
    comm = await database_sync_to_async(agent_communicator)(alice)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "hello"})
    welcome = await _receive_type(comm, "welcome")
    assert [c["id"] for c in welcome["chats"]] == [chat.pk]
    live = await _receive_type(comm, "message.new")
    assert live["message"]["text"] == "Meanwhile"
    await comm.disconnect()


async def test_a_console_coming_back_follows_all_its_chats_at_once(alice, monkeypatch):
    """Its chats' groups are joined together (one subscription batch), not one after another:
    with fifty chats a console waited for a hundred batches in turn."""
    from channels.layers import get_channel_layer

    from chat.models import Conversation, hash_token

    ids = await database_sync_to_async(
        lambda: [
            Conversation.objects.create(
                token_hash=hash_token(f"console-follows-all-{i}"),
                status=Conversation.Status.ACTIVE,
                assigned_agent=alice,
            ).pk
            for i in range(5)
        ]
    )()
    layer = get_channel_layer()
    real = layer.group_add
    steps: list[tuple[str, str]] = []

    async def group_add(group, channel):
        steps.append(("asked", group))
        await asyncio.sleep(0.01)
        await real(group, channel)
        steps.append(("joined", group))

    monkeypatch.setattr(layer, "group_add", group_add)
    comm = await database_sync_to_async(agent_communicator)(alice)
    await comm.connect()
    await comm.send_json_to({"type": "hello"})
    welcome = await _receive_type(comm, "welcome")
    assert sorted(c["id"] for c in welcome["chats"]) == sorted(ids)
    chat_groups = {g for pk in ids for g in consumers._chat_groups(pk)}
    # (The console's own groups, joined when it connects, are not the chats'.)
    steps = [step for step in steps if step[1] in chat_groups]
    assert {g for _, g in steps} == chat_groups and len(steps) == 2 * len(chat_groups)
    # Every group was asked for before the first was joined.
    assert [kind for kind, _ in steps[: len(chat_groups)]] == ["asked"] * len(chat_groups)
    await comm.disconnect()
