"""The agent console's websocket: queue, presence and the agent's own conversations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction

from chat import selectors as chat_selectors
from chat import services, topics, waiting
from chat.consumers import messages_fill, messages_frame
from chat.models import Conversation, Message, Topic
from chat.selectors import PreparedChunks
from chat.serializers import conversation_summary
from chat.services import ChatError
from realtime import events, frames
from realtime.loops import PerLoop
from realtime.protocol import Close
from realtime.sockets import JsonFrameConsumer, int_field

from . import dispatch, selectors
from .services import presence_expire, presence_heartbeat, presence_refresh, presence_set
from .types import StaffUser

logger = logging.getLogger(__name__)

# Delayed "go offline" checks outlive the consumer that scheduled them; keep them referenced.
_pending_expiries: set[asyncio.Task] = set()
# Housekeeping units (presence heartbeats, access rechecks, also those an access change asks
# for) run one at a time per process: after a reconnect wave, fifty of them in the database
# threads at once held the interpreter long enough to delay every chat message of the process by
# 400-500 ms. Queued, the last of fifty waits ~50 ms.
_housekeeping: PerLoop[asyncio.Semaphore] = PerLoop(lambda loop: asyncio.Semaphore(1))


def recheck_seconds() -> float:
    return float(settings.AGENT_SOCKET_RECHECK_SECONDS)


class AgentConsumer(JsonFrameConsumer):
    """One console tab of an authenticated agent (session cookie, same origin only).

    The socket lives only as long as the login behind it: it is closed when the session ends
    (logout, idle or absolute timeout), the account is deactivated or the console permission
    is taken away, or the account now needs a second factor its session was signed in without,
    by an event at once and by a recheck every few seconds as a backstop.
    """

    handlers = {
        "hello": "handle_hello",
        "presence.set": "handle_presence",
        "conversation.claim": "handle_claim",
        "offer.decline": "handle_decline",
        "conversation.detail": "handle_detail",
        "message.send": "handle_message",
        "note.send": "handle_note",
        "typing": "handle_typing",
        "conversation.transfer": "handle_transfer",
        "conversation.close": "handle_close",
        "conversation.wrap_up": "handle_wrap_up",
        "sync": "handle_sync",
        "list.page": "handle_list_page",
        "ping": "handle_ping",
    }
    pipelined = frozenset({"message.send", "note.send"})
    sheddable = frozenset({"message.send"})
    not_found_message = "no such conversation"

    def pipeline_key(self, frame: dict[str, Any]) -> Any:
        # In order per chat; different chats' messages are written side by side.
        key = frame.get("conversation_id")
        return key if isinstance(key, int) else None

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.joined: set[int] = set()
        self.recheck_task: asyncio.Task | None = None
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        if not self.origin_allowed():
            logger.warning("agent websocket refused: origin not allowed")
            await self.close(code=Close.FORBIDDEN)
            return
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=Close.FORBIDDEN)
            return
        # Subscribed to the account's own events before its access is checked: a logout or a
        # change of access committed after the check is then never missed.
        await self.channel_layer.group_add(events.agent_group(self.user.pk), self.channel_name)
        if not await self.unit(_login_valid, self.user, self.session_key):
            await self.close(code=Close.FORBIDDEN)
            return
        await self.accept()
        if not await self.unit(selectors.guidance_acknowledged, self.user):
            # The queue is shown only to agents who have read the guidance (see /console/).
            await self.send_error("guidance_required", "acknowledge the guidance first")
            await self.close(code=Close.FORBIDDEN)
            return
        await self.channel_layer.group_add(events.AGENTS_GROUP, self.channel_name)
        self.recheck_task = asyncio.create_task(self._recheck_loop())

    async def disconnect(self, code: int | None) -> None:
        """Schedules the presence expiry first (it must happen whatever fails after), then
        leaves every group."""
        task = getattr(self, "recheck_task", None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        user = getattr(self, "user", None)
        if user is None or not user.is_authenticated:
            return
        if task is not None:
            expiry = asyncio.create_task(self._expire_presence_later(user))
            _pending_expiries.add(expiry)
            expiry.add_done_callback(_pending_expiries.discard)
        groups = [group for c in getattr(self, "joined", ()) for group in _chat_groups(c)]
        groups += [events.AGENTS_GROUP, events.agent_group(user.pk)]
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _expire_presence_later(self, user: StaffUser) -> None:
        """Sets the agent offline after the grace period unless another tab kept it fresh."""
        await asyncio.sleep(settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS)
        try:
            await self.unit(presence_expire, user=user)
        except Exception:
            logger.exception("could not expire an agent's presence")

    async def _recheck_loop(self) -> None:
        # The first wait is spread over the period, so that consoles opened together (a restart,
        # a reconnect wave) do not all query at the same moment ever after.
        delay = recheck_seconds() * random.uniform(0.5, 1.0)
        while True:
            await asyncio.sleep(delay)
            await self._recheck()
            delay = recheck_seconds()

    async def _recheck(self) -> None:
        try:
            # One query from the event loop where possible, else a unit in a database thread.
            allowed = await selectors.console_login_valid(self.user, self.session_key)
            if allowed is None:
                async with _housekeeping.get():
                    allowed = await self.unit(_login_valid, self.user, self.session_key)
        except Exception:
            # A database hiccup is not a reason to throw an agent out; the next check decides.
            logger.warning("agent socket recheck failed")
            return
        if not allowed:
            await self._end_session()

    async def _end_session(self) -> None:
        with contextlib.suppress(Exception):
            await self.send_json({"type": "session.ended"})
        await self.close(code=Close.FORBIDDEN)

    async def _join(self, *conversation_ids: int) -> None:
        """Follows the chats, all their groups at once: their subscriptions go out in one
        batch. One after the other, a console coming back with fifty chats waited for a hundred
        batches in turn, each a turn of a busy event loop (seconds in a reconnect storm)."""
        new = [c for c in dict.fromkeys(conversation_ids) if c not in self.joined]
        self.joined.update(new)
        groups = [group for c in new for group in _chat_groups(c)]
        await asyncio.gather(
            *(self.channel_layer.group_add(group, self.channel_name) for group in groups)
        )

    async def _leave(self, conversation_id: int) -> None:
        if conversation_id in self.joined:
            self.joined.discard(conversation_id)
            for group in _chat_groups(conversation_id):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def handle_hello(self, frame: dict[str, Any]) -> None:
        """Sends the queue, the agent's chats with their visitor panels, colleagues, canned
        replies and every message of the agent's chats after `last_seen_id`: as much of each as
        fits one frame, and in `next` the frames that fetch the rest (`list.page`, `sync`)."""
        after_id = int_field(frame.get("last_seen_id"), "last_seen_id", required=False)
        # The agent's chats are followed before their messages are read: one stored between
        # the read and the join would reach this console neither way. One stored meanwhile
        # may come both ways; the console keeps one per id.
        mine = await self.unit(_own_chat_ids, self.user)
        await self._join(*mine)
        await self.send_json(await self.unit(_console_state, self.user, after_id, mine))

    async def handle_list_page(self, frame: dict[str, Any]) -> None:
        """The next page of one of the welcome's lists (`queue`, `chats` with their `details`,
        `agents`, `canned`) after the item with id `after_id`."""
        name = frame.get("list")
        if name not in CONSOLE_LISTS:
            raise ChatError("bad_frame", f"list must be one of {', '.join(CONSOLE_LISTS)}")
        after_id = int_field(frame.get("after_id"), "after_id", required=False)
        await self.send_json(await self.unit(_list_page, self.user, name, after_id))

    async def handle_presence(self, frame: dict[str, Any]) -> None:
        """Sets the agent's presence; the console repeats it as its heartbeat."""
        presence = frame.get("status")
        # Usually nothing anyone sees changes: one UPDATE from the event loop, no thread.
        refreshed = await presence_refresh(user_id=self.user.pk, presence=presence)
        if refreshed:
            return
        async with _housekeeping.get():
            if refreshed is None:
                await self.unit(presence_heartbeat, user=self.user, presence=presence)
            else:
                await self.unit(presence_set, user=self.user, presence=presence)

    async def handle_claim(self, frame: dict[str, Any]) -> None:
        """Takes a waiting chat; of several agents racing, one gets it, the others
        `already_taken`."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        conversation = await self.unit(
            dispatch.conversation_take, conversation_id=conversation_id, agent=self.user
        )
        await self._join(conversation.pk)
        await self.send_json(
            await self.unit(_detail, self.user, conversation.pk, "conversation.claim.ok")
        )

    async def handle_decline(self, frame: dict[str, Any]) -> None:
        """Lets a chat offered to this agent pass on to a colleague at once."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        if not await self.unit(
            dispatch.offer_decline, conversation_id=conversation_id, agent=self.user
        ):
            raise ChatError("not_found", "no such offer")

    async def handle_detail(self, frame: dict[str, Any]) -> None:
        """The full state of one of the agent's own chats (after a transfer to this agent)."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        detail = await self.unit(_detail, self.user, conversation_id, "conversation.detail")
        if detail["conversation"]["status"] == Conversation.Status.ACTIVE:
            await self._join(conversation_id)
        await self.send_json(detail)

    async def handle_message(self, frame: dict[str, Any]) -> None:
        """Stores the agent's message under the agent's name, once per client message id."""
        await self._store(frame, Message.Sender.AGENT)

    async def handle_note(self, frame: dict[str, Any]) -> None:
        """Stores an internal note in one of the agent's chats, once per client message id.

        The same way as a message, as `sender="note"`: it reaches the consoles following the
        chat, never the visitor."""
        await self._store(frame, Message.Sender.NOTE)

    async def _store(self, frame: dict[str, Any], sender: str) -> None:
        """`services.message_send` under the agent's name, then the acknowledgement. A message
        may take the batched path only into a chat this socket follows."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        stored = await services.message_send(
            conversation_id=conversation_id,
            sender=sender,
            agent=self.user,
            text=frame.get("text"),
            client_msg_id=frame.get("client_msg_id"),
            batched=sender != Message.Sender.AGENT or conversation_id in self.joined,
        )
        await self.send_ack(stored, stored["client_msg_id"], conversation_id=conversation_id)

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        """Tells the visitor "<agent name> is typing"; not stored."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        if conversation_id not in self.joined:
            raise ChatError("not_found", "no such conversation")
        await self.channel_layer.group_send(
            events.conversation_group(conversation_id),
            events.envelope(
                {
                    "type": "typing",
                    "conversation_id": conversation_id,
                    "sender": "agent",
                    "name": services.display_name(self.user),
                    "active": bool(frame.get("active")),
                }
            ),
        )

    async def handle_transfer(self, frame: dict[str, Any]) -> None:
        """Hands one of the agent's chats to a colleague who is online (`agent_id`) or to a
        topic's queue (`topic_id`)."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        topic_id = int_field(frame.get("topic_id"), "topic_id", required=False)
        if topic_id is not None:
            await self.unit(_transfer_topic, self.user, conversation_id, topic_id)
        else:
            to_id = int_field(frame.get("agent_id"), "agent_id")
            await self.unit(_transfer, self.user, conversation_id, to_id)
        await self._leave(conversation_id)

    async def handle_close(self, frame: dict[str, Any]) -> None:
        """Ends one of the agent's chats; the visitor is told. With `wrap_up` (`reason_id`,
        `tag_ids`) the agent's wrap-up is stored in the same transaction."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        wrap_up = frame.get("wrap_up")
        if wrap_up is not None and not isinstance(wrap_up, dict):
            raise ChatError("bad_frame", "wrap_up must be an object")
        await self.unit(_close, self.user, conversation_id, wrap_up)

    async def handle_wrap_up(self, frame: dict[str, Any]) -> None:
        """Sets the wrap-up (`reason_id`, `tag_ids`) of one of the agent's chats, also after it
        has ended (the visitor may end it first); answered with `conversation.wrapped_up`."""
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id")
        await self.unit(_wrap_up, self.user, conversation_id, frame)

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        """Messages of the agent's chats (or of its one chat `conversation_id`) after
        `last_seen_id`, from the database, a page at a time (`cursor`)."""
        after_id = int_field(frame.get("last_seen_id"), "last_seen_id", required=False)
        cursor = int_field(frame.get("cursor"), "cursor", required=False)
        conversation_id = int_field(frame.get("conversation_id"), "conversation_id", required=False)
        if conversation_id is None:
            reply = await self.unit(
                messages_frame,
                {"type": "sync"},
                sorted(self.joined),
                after_id,
                cursor,
                include_notes=True,
            )
        else:
            reply = await self.unit(_chat_sync, self.user, conversation_id, after_id, cursor)
        await self.send_json(reply)

    async def wants(self, event: dict[str, Any]) -> bool:
        kind = event["type"]
        if kind == "typing":
            return event.get("sender") == "visitor"
        if kind == "session.ended":
            if event.get("session_key") in (None, self.session_key):
                await self._end_session()
            return False
        if kind == "access.changed":
            await self._recheck()
            return False
        if kind in ("conversation.claimed", "conversation.transferred"):
            conversation = event["conversation"]
            if conversation["agent_id"] == self.user.pk:
                await self._join(conversation["id"])
            elif kind == "conversation.transferred":
                await self._leave(conversation["id"])
        if kind == "conversation.closed":
            await self._leave(event["conversation"]["id"])
        if kind == "conversation.erased":
            await self._leave(event["conversation_id"])
        return True


# --- sync units of work -----------------------------------------------------------------------


def _login_valid(user: StaffUser, session_key: str | None) -> bool:
    """The account may use the console and its login session is still alive, with the second
    factor the account needs now (a role that needs one may have been granted since)."""
    from .middleware import session_alive

    if not selectors.can_use_console(user):
        return False
    return session_alive(
        session_key, user.pk, second_factor_needed=selectors.second_factor_needed(user.pk)
    )


def _own_chats(user: StaffUser, after_id: int | None) -> Iterator[dict[str, Any]]:
    """The agent's active chats by id after `after_id`, each with its (bounded) visitor panel."""
    for chats in _OWN_CHATS.chunks(user.pk, after_id=after_id):
        panels = selectors.visitor_panels(chats, bounded=True)
        for conversation in chats:
            yield {
                "id": conversation.pk,
                "chat": {**conversation_summary(conversation), "language": conversation.language},
                "detail": panels[conversation.pk],
            }


_OWN_CHATS = PreparedChunks(
    lambda user_id: Conversation.objects.filter(
        status=Conversation.Status.ACTIVE, assigned_agent_id=user_id
    ).select_related("assigned_agent"),
    int,
    first=4,
    most=32,
)


def _chat_size(entry: dict[str, Any]) -> int:
    # The chat in `chats` and its panel in `details` ("<id>":{...}), each with a comma.
    key = len(str(entry["id"])) + 3
    return frames.encoded_size(entry["chat"]) + 1 + key + frames.encoded_size(entry["detail"])


#: The welcome's lists a console fetches page by page with `list.page`, in the order they fill
#: the welcome: the agent's own chats first, the queue before colleagues and canned replies.
CONSOLE_LISTS = {
    "chats": _own_chats,
    "queue": lambda user, after_id: selectors.queue(after_id),
    "agents": lambda user, after_id: selectors.colleagues_after(after_id),
    "canned": lambda user, after_id: selectors.canned_replies(after_id),
}


def _fill_list(frame: frames.Frame, user: StaffUser, name: str, after_id: int | None) -> None:
    items = frame.fill(
        name,
        CONSOLE_LISTS[name](user, after_id),
        cursor=after_id,
        resume=lambda last: {"type": "list.page", "list": name, "after_id": last},
        size=_chat_size if name == "chats" else frames.encoded_size,
    )
    if name == "chats":
        frame.put("chats", [entry["chat"] for entry in items])
        frame.put("details", {str(entry["id"]): entry["detail"] for entry in items})
    else:
        frame.put(name, items)


def _list_page(user: StaffUser, name: str, after_id: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": "list.page", "list": name}
    if name == "chats":
        fields["details"] = {}
    frame = frames.Frame(fields, lists=[name])
    _fill_list(frame, user, name, after_id)
    return frame.build()


def _own_chat_ids(user: StaffUser) -> list[int]:
    """The ids of the agent's active chats (to follow)."""
    return list(
        Conversation.objects.filter(
            status=Conversation.Status.ACTIVE, assigned_agent=user
        ).values_list("pk", flat=True)
    )


def _console_state(user: StaffUser, after_id: int | None, mine: list[int]) -> dict[str, Any]:
    """The `welcome` frame, with the messages of the agent's chats `mine` after `after_id`."""
    from .services import profile_get

    profile = profile_get(user=user)
    frame = frames.Frame(
        {
            "type": "welcome",
            "me": {
                "id": user.pk,
                "name": services.display_name(user),
                "presence": selectors.login_presence(profile),
                "language": profile.language,
                "capacity": profile.capacity,
            },
            "topics": topics.topic_names(),
            "routing": settings.CHAT_ROUTING,
            "details": {},
            "heartbeat_seconds": selectors.heartbeat_seconds(),
            # The director's lists for the wrap-up when a chat ends (a few items each).
            "wrap_up": chat_selectors.wrap_up_choices(profile.language),
            # Each waiting chat's place and estimate; later changes come as `queue.changed`.
            "queue_estimates": waiting.queue_estimates(),
        },
        lists=["messages", *CONSOLE_LISTS],
    )
    if mine:
        _fill_list(frame, user, "chats", None)
        messages_fill(frame, mine, after_id, include_notes=True)
    for name in CONSOLE_LISTS:
        if name != "chats":
            _fill_list(frame, user, name, None)
    return frame.build()


def _own_conversation(user: StaffUser, conversation_id: int) -> Conversation:
    """One of the chats assigned to `user`. Any other is refused as if it did not exist: the
    socket tells nobody which other chats there are (need to know)."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id, assigned_agent=user)
        .select_related("assigned_agent")
        .first()
    )
    if conversation is None:
        raise ChatError("not_found", "no such conversation")
    return conversation


def _detail(user: StaffUser, conversation_id: int, kind: str) -> dict[str, Any]:
    """One of the agent's chats as frame `kind`: summary, visitor panel and a page of messages."""
    conversation = _own_conversation(user, conversation_id)
    frame = frames.Frame(
        {
            "type": kind,
            "conversation": {
                **conversation_summary(conversation),
                "language": conversation.language,
            },
            "detail": selectors.visitor_panel(conversation, bounded=True),
        },
        lists=["messages"],
    )
    messages_fill(
        frame, [conversation.pk], None, include_notes=True, conversation_id=conversation.pk
    )
    return frame.build()


def _chat_sync(
    user: StaffUser, conversation_id: int, after_id: int | None, cursor: int | None
) -> dict[str, Any]:
    """The next page of messages of one of the agent's chats (after a claim or detail)."""
    conversation = _own_conversation(user, conversation_id)
    return messages_frame(
        {"type": "sync", "conversation_id": conversation.pk},
        [conversation.pk],
        after_id,
        cursor,
        include_notes=True,
        conversation_id=conversation.pk,
    )


def _transfer(user: StaffUser, conversation_id: int, to_id: int) -> None:
    conversation = _own_conversation(user, conversation_id)
    target = selectors.console_users().filter(pk=to_id).first()
    if target is None:
        raise ChatError("not_found", "no such agent")
    if not selectors.online_profiles().filter(user=target).exists():
        raise ChatError("agent_offline", "that colleague is not online")
    dispatch.conversation_hand_over(conversation=conversation, from_agent=user, to_agent=target)


def _transfer_topic(user: StaffUser, conversation_id: int, topic_id: int) -> None:
    conversation = _own_conversation(user, conversation_id)
    topic = Topic.objects.filter(pk=topic_id).first()
    if topic is None:
        raise ChatError("not_found", "no such topic")
    services.conversation_transfer_topic(conversation=conversation, from_agent=user, topic=topic)


@transaction.atomic
def _close(user: StaffUser, conversation_id: int, wrap_up: dict[str, Any] | None) -> None:
    conversation = _own_conversation(user, conversation_id)
    if wrap_up is not None:
        _wrap_up(user, conversation_id, wrap_up)
    services.conversation_close(conversation=conversation, closed_by=Conversation.ClosedBy.AGENT)


def _wrap_up(user: StaffUser, conversation_id: int, fields: dict[str, Any]) -> None:
    conversation = _own_conversation(user, conversation_id)
    services.conversation_wrap_up(
        conversation=conversation,
        agent=user,
        reason_id=fields.get("reason_id"),
        tag_ids=fields.get("tag_ids", []),
    )


def _chat_groups(conversation_id: int) -> tuple[str, str]:
    """What a console following a chat joins: the conversation (with its visitor) and its
    staff group (internal notes)."""
    return events.conversation_group(conversation_id), events.conversation_staff_group(
        conversation_id
    )
