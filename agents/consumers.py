"""The agent console's websocket: queue, presence and the agent's own conversations."""

from __future__ import annotations

import logging
from typing import Any

from chat import events, services
from chat.consumers import CLOSE_FORBIDDEN, JsonFrameConsumer, _int, _messages_after
from chat.models import Conversation, Message
from chat.serializers import conversation_summary, message_dict
from chat.services import ChatError

from . import selectors
from .services import presence_set

logger = logging.getLogger(__name__)


def _can_use_console(user) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.has_perm("agents.use_console")
    )


class AgentConsumer(JsonFrameConsumer):
    """One console tab of an authenticated agent (session cookie, same origin only)."""

    handlers = {
        "hello": "handle_hello",
        "presence.set": "handle_presence",
        "conversation.claim": "handle_claim",
        "message.send": "handle_message",
        "typing": "handle_typing",
        "conversation.transfer": "handle_transfer",
        "conversation.close": "handle_close",
        "sync": "handle_sync",
        "ping": "handle_ping",
    }

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.joined: set[int] = set()
        if not self.origin_allowed():
            logger.warning("agent websocket refused: origin not allowed")
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await self.unit(_can_use_console, self.user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.channel_layer.group_add(events.AGENTS_GROUP, self.channel_name)
        await self.channel_layer.group_add(events.agent_group(self.user.pk), self.channel_name)

    async def disconnect(self, code: int) -> None:
        if not getattr(self, "joined", None) and not getattr(self, "user", None):
            return
        for conversation_id in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(
                events.conversation_group(conversation_id), self.channel_name
            )
        if getattr(self, "user", None) is not None and self.user.is_authenticated:
            await self.channel_layer.group_discard(events.AGENTS_GROUP, self.channel_name)
            await self.channel_layer.group_discard(
                events.agent_group(self.user.pk), self.channel_name
            )

    async def _join(self, conversation_id: int) -> None:
        if conversation_id not in self.joined:
            self.joined.add(conversation_id)
            await self.channel_layer.group_add(
                events.conversation_group(conversation_id), self.channel_name
            )

    async def _leave(self, conversation_id: int) -> None:
        if conversation_id in self.joined:
            self.joined.discard(conversation_id)
            await self.channel_layer.group_discard(
                events.conversation_group(conversation_id), self.channel_name
            )

    async def handle_hello(self, frame: dict[str, Any]) -> None:
        """Sends the queue, the agent's chats and every message after `last_seen_id`."""
        after_id = _int(frame.get("last_seen_id"), "last_seen_id", required=False)
        state = await self.unit(_console_state, self.user, after_id)
        for chat in state["chats"]:
            await self._join(chat["id"])
        await self.send_json({"type": "welcome", **state})

    async def handle_presence(self, frame: dict[str, Any]) -> None:
        await self.unit(presence_set, user=self.user, presence=frame.get("status"))

    async def handle_claim(self, frame: dict[str, Any]) -> None:
        conversation_id = _int(frame.get("conversation_id"), "conversation_id")
        conversation = await self.unit(
            services.conversation_claim, conversation_id=conversation_id, agent=self.user
        )
        await self._join(conversation.pk)
        messages = await self.unit(_messages_after, [conversation.pk], None)
        await self.send_json(
            {
                "type": "conversation.claim.ok",
                "conversation": conversation_summary(conversation),
                "messages": messages,
            }
        )

    async def handle_message(self, frame: dict[str, Any]) -> None:
        conversation_id = _int(frame.get("conversation_id"), "conversation_id")
        client_msg_id = services._clean_client_msg_id(frame.get("client_msg_id"))
        message = await self.unit(
            _agent_message, self.user, conversation_id, frame.get("text"), client_msg_id
        )
        await self.send_json(
            {
                "type": "message.ack",
                "conversation_id": conversation_id,
                "client_msg_id": client_msg_id,
                "message": message_dict(message),
            }
        )

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = _int(frame.get("conversation_id"), "conversation_id")
        if conversation_id not in self.joined:
            raise ChatError("forbidden", "not your conversation")
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
        conversation_id = _int(frame.get("conversation_id"), "conversation_id")
        to_id = _int(frame.get("agent_id"), "agent_id")
        await self.unit(_transfer, self.user, conversation_id, to_id)
        await self._leave(conversation_id)

    async def handle_close(self, frame: dict[str, Any]) -> None:
        conversation_id = _int(frame.get("conversation_id"), "conversation_id")
        await self.unit(_close, self.user, conversation_id)

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        after_id = _int(frame.get("last_seen_id"), "last_seen_id", required=False)
        messages = await self.unit(_messages_after, sorted(self.joined), after_id)
        await self.send_json({"type": "sync", "messages": messages})

    async def wants(self, event: dict[str, Any]) -> bool:
        kind = event["type"]
        if kind == "typing":
            return event.get("sender") == "visitor"
        if kind in ("conversation.claimed", "conversation.transferred"):
            conversation = event["conversation"]
            if conversation["agent_id"] == self.user.pk:
                await self._join(conversation["id"])
        if kind == "session.ended":
            await self.send_json(event)
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        return True


# --- sync units of work -----------------------------------------------------------------------


def _queue_item(conversation: Conversation) -> dict[str, Any]:
    first = conversation.messages.filter(sender=Message.Sender.VISITOR).first()
    page = conversation.page_visits.order_by("-id").first()
    return {
        **conversation_summary(conversation),
        "first_message": first.text if first else "",
        "current_page": {"url": page.url, "title": page.title} if page else None,
    }


def _console_state(user, after_id: int | None) -> dict[str, Any]:
    waiting = list(
        Conversation.objects.filter(status=Conversation.Status.WAITING).order_by("created_at")
    )
    mine = list(
        Conversation.objects.filter(status=Conversation.Status.ACTIVE, assigned_agent=user)
        .select_related("assigned_agent")
        .order_by("claimed_at")
    )
    agents = [
        {"id": p.user_id, "name": services.display_name(p.user), "presence": p.presence}
        for p in selectors.online_profiles().select_related("user")
    ]
    return {
        "me": {"id": user.pk, "name": services.display_name(user)},
        "queue": [_queue_item(c) for c in waiting],
        "chats": [conversation_summary(c) for c in mine],
        "agents": agents,
        "messages": _messages_after([c.pk for c in mine], after_id) if mine else [],
    }


def _own_conversation(user, conversation_id: int) -> Conversation:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise ChatError("not_found", "no such conversation")
    if conversation.assigned_agent_id != user.pk:
        raise ChatError("forbidden", "not your conversation")
    return conversation


def _agent_message(user, conversation_id: int, text: Any, client_msg_id: str) -> Message:
    conversation = _own_conversation(user, conversation_id)
    message, _ = services.message_create(
        conversation=conversation,
        sender=Message.Sender.AGENT,
        text=text,
        client_msg_id=client_msg_id,
        agent=user,
        author_name=services.display_name(user),
    )
    return message


def _transfer(user, conversation_id: int, to_id: int) -> None:
    conversation = _own_conversation(user, conversation_id)
    target = selectors.console_users().filter(pk=to_id).first()
    if target is None:
        raise ChatError("not_found", "no such agent")
    services.conversation_transfer(conversation=conversation, from_agent=user, to_agent=target)


def _close(user, conversation_id: int) -> None:
    conversation = _own_conversation(user, conversation_id)
    services.conversation_close(conversation=conversation, closed_by=Conversation.ClosedBy.AGENT)
