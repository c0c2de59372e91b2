"""The visitor's websocket: it parses a frame, calls one service, and sends the result.

The framing, limits, errors and shutdown it shares with the console's socket are the realtime
layer's (`realtime.sockets.JsonFrameConsumer`); what is here is the chat's protocol.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils import translation

from realtime import events, frames, limits
from realtime.limits import TokenBucket
from realtime.logging import Throttled
from realtime.net import scope_client_ip, scope_headers
from realtime.protocol import Close
from realtime.sockets import JsonFrameConsumer, int_field

from . import configuration, hooks, selectors, services, topics, waiting, widget_strings
from .models import Conversation, Message
from .serializers import conversation_summary, message_dict
from .services import ChatError

logger = logging.getLogger(__name__)
# What clients cause is logged one line at a time, and only so many lines a minute.
client_log = Throttled(logger)


class VisitorConsumer(JsonFrameConsumer):
    """The website visitor's side of a conversation, authorised by the conversation's token."""

    handlers = {
        "hello": "handle_hello",
        "conversation.start": "handle_start",
        "message.send": "handle_message",
        "typing": "handle_typing",
        "page.view": "handle_page",
        "context.set": "handle_context",
        "conversation.end": "handle_end",
        "sync": "handle_sync",
        "ping": "handle_ping",
    }
    sheddable = frozenset({"message.send", "conversation.start"})
    not_found_message = "no such conversation"
    deferrable = True

    async def connect(self) -> None:
        self.conversation: Conversation | None = None
        self.lang = settings.LANGUAGE_CODE
        self.queue_said = ""  # the queue sentence this socket last sent
        self.queue_said_of: tuple[Any, ...] = ()  # the language, place and estimate it said
        self.ip = scope_client_ip(self.scope)
        self.slot: limits.Slot | None = None
        if not self.origin_allowed():
            client_log.log(
                logging.WARNING, "origin", "visitor websocket refused: origin not allowed"
            )
            await self.close(code=Close.FORBIDDEN)
            return
        self.slot = await limits.ip_connection_acquire_async(self.ip)
        if self.slot is None:
            client_log.log(
                logging.WARNING, "slots", "visitor websocket refused: too many from one address"
            )
            await self.close(code=Close.POLICY)
            return
        self.message_bucket = TokenBucket(settings.CHAT_MESSAGES_PER_MINUTE, 60)
        self.typing_bucket = TokenBucket(60, 60)
        await self.accept()
        await self.channel_layer.group_add(events.VISITORS_GROUP, self.channel_name)

    async def disconnect(self, code: int | None) -> None:
        """Gives back the address's slot first (it must never stay taken), then the groups."""
        slot, self.slot = getattr(self, "slot", None), None
        if slot is None:
            return
        await limits.ip_connection_release_async(slot)
        groups = [events.VISITORS_GROUP, waiting.WAITING_GROUP]
        conversation = getattr(self, "conversation", None)
        if conversation is not None:
            groups.append(events.conversation_group(conversation.pk))
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    def _info(self, frame: dict[str, Any]) -> services.VisitorInfo:
        headers = scope_headers(self.scope)
        return services.visitor_info(
            ip_address=self.ip,
            user_agent=headers.get("user-agent", ""),
            language=frame.get("lang") or headers.get("accept-language", "")[:35],
            screen=frame.get("screen"),
        )

    async def _availability(self, frame: dict[str, Any]) -> dict[str, Any]:
        known = _availability_reused(frame.get("topic"), self.lang)
        if known is not None:
            return known
        return await self.unit(_availability, frame.get("topic"), self.lang)

    async def _subscribe(self, conversation: Conversation) -> None:
        previous = self.conversation
        if previous is not None and previous.pk != conversation.pk:
            # A socket follows one conversation at a time: a new chat after an ended one must
            # not keep receiving the old conversation's events.
            await self.channel_layer.group_discard(
                events.conversation_group(previous.pk), self.channel_name
            )
        self.conversation = conversation
        await self.channel_layer.group_add(
            events.conversation_group(conversation.pk), self.channel_name
        )

    def _require_conversation(self) -> Conversation:
        if self.conversation is None:
            raise ChatError("no_conversation", "start a conversation first")
        return self.conversation

    async def handle_hello(self, frame: dict[str, Any]) -> None:
        """Resumes the conversation of `token` from `last_seen_id`, or greets a new visitor."""
        token = frame.get("token")
        after_id = int_field(frame.get("last_seen_id"), "last_seen_id", required=False)
        page = services.clean_page(frame.get("page"))
        info = self._info(frame)
        self._set_language(frame.get("lang"))
        availability = await self._availability(frame)
        if token is None:
            await self.send_json({"type": "welcome", "conversation": None, **availability})
            return
        returning = await self.unit(selectors.returning_visitor, token)
        if returning is None:
            raise ChatError("bad_token", "unknown or expired conversation; start a new one")
        conversation = returning.conversation
        current = self.conversation
        if (
            current is not None
            and current.pk != conversation.pk
            and current.status != Conversation.Status.CLOSED
        ):
            raise ChatError("token_mismatch", "this connection already follows another chat")
        # Followed before its messages and its place in the queue are read: a message stored or
        # a queue change between the read and the subscription would reach this socket neither
        # way. One meanwhile may come both ways; the clients keep one per id.
        await self._subscribe(conversation)
        await self._follow_queue(True)
        welcome = {"type": "welcome", **availability}
        welcome = await self.unit(_resume, returning, info, page, after_id, welcome)
        if welcome.get("queue"):
            # The welcome carries the frame's fields, as a `queue.position` would.
            welcome["queue"] = self._queue_frame(welcome["queue"])
            del welcome["queue"]["type"]
        else:
            await self._follow_queue(False)
        await self.send_json(welcome)

    def _set_language(self, lang: Any) -> None:
        """The language the panel speaks: the queue sentences are said in it."""
        if isinstance(lang, str) and lang[:2] in dict(settings.LANGUAGES):
            self.lang = lang[:2]

    def _queue_frame(self, status: dict[str, Any]) -> dict[str, Any]:
        """A `queue.position` frame: place, estimate and the sentence that says them."""
        with translation.override(self.lang):
            text = widget_strings.queue_text(status["position"], status["estimate"])
        self.queue_said = text
        self.queue_said_of = (self.lang, status["position"], status["estimate"])
        return {
            "type": "queue.position",
            "position": status["position"],
            "estimate": status["estimate"],
            "text": text,
        }

    async def _follow_queue(self, on: bool) -> None:
        """Only sockets of waiting chats hear the queue's announcements (not every visitor)."""
        if on:
            await self.channel_layer.group_add(waiting.WAITING_GROUP, self.channel_name)
        else:
            await self.channel_layer.group_discard(waiting.WAITING_GROUP, self.channel_name)

    async def _queue_changed(self, items: list[dict[str, Any]]) -> None:
        """Picks this visitor's line from a queue announcement; sends it only when the sentence
        changes, so a screen reader hears a change and nothing else."""
        conversation = self.conversation
        if conversation is None or conversation.status != Conversation.Status.WAITING:
            return
        mine = waiting.announced_item(items, conversation.pk)
        if mine is None or (self.lang, mine["position"], mine["estimate"]) == self.queue_said_of:
            return  # the same words: no sentence is built (most sockets, most announcements)
        said = self.queue_said
        frame = self._queue_frame(mine)
        if frame["text"] != said:
            await self.send_json(frame)

    async def handle_start(self, frame: dict[str, Any]) -> None:
        """Opens a conversation with the visitor's first message; returns the bearer token."""
        if self.conversation is not None and self.conversation.status != Conversation.Status.CLOSED:
            raise ChatError("already_started", "a conversation is already open")
        self._set_language(frame.get("lang"))
        # Joined before the chat exists: the announcement of its own start tells its place.
        await self._follow_queue(True)
        try:
            conversation, token, message = await services.conversation_open(
                info=self._info(frame),
                ip_address=self.ip,
                page=frame.get("page"),
                context=frame.get("context"),
                text=frame.get("text"),
                client_msg_id=frame.get("client_msg_id"),
                topic=frame.get("topic"),
                offline=frame.get("offline", False),
                contact=frame.get("contact"),
            )
        except Exception:
            await self._follow_queue(False)
            raise
        await self._subscribe(conversation)
        await self.send_json(
            {
                "type": "conversation.started",
                "token": token,
                "conversation": conversation_summary(conversation),
                # Host context keys the operator has not listed: dropped, not an error.
                "context_dropped": services.context_keys_dropped(frame.get("context")),
            }
        )
        await self.send_ack(message, message["client_msg_id"])

    async def handle_message(self, frame: dict[str, Any]) -> None:
        """Stores a visitor message once per client id and acknowledges it after commit."""
        conversation = self._require_conversation()
        if not self.message_bucket.take() or not await limits.ip_message_allowed_async(self.ip):
            raise ChatError("rate_limited", "too many messages; wait a moment and resend")
        message = await services.message_send(
            conversation_id=conversation.pk,
            sender=Message.Sender.VISITOR,
            text=frame.get("text"),
            client_msg_id=frame.get("client_msg_id"),
            batched=conversation.status == Conversation.Status.ACTIVE,
        )
        await self.send_ack(message, message["client_msg_id"])

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation = self._require_conversation()
        active = frame.get("active")
        if not isinstance(active, bool):
            raise ChatError("bad_frame", "active must be true or false")
        if not self.typing_bucket.take():
            return
        await self.channel_layer.group_send(
            events.conversation_group(conversation.pk),
            events.envelope(
                {
                    "type": "typing",
                    "conversation_id": conversation.pk,
                    "sender": "visitor",
                    "active": active,
                }
            ),
        )

    async def handle_page(self, frame: dict[str, Any]) -> None:
        page = services.clean_page(frame.get("page"))
        if page is None:
            raise ChatError("bad_frame", "page is required")
        if self.conversation is not None:
            await self.unit(_page_visit, self.conversation.pk, page)

    async def handle_context(self, frame: dict[str, Any]) -> None:
        conversation = self._require_conversation()
        data = services.clean_context(frame.get("data"))
        await self.unit(_host_context, conversation.pk, data)
        dropped = services.context_keys_dropped(frame.get("data"))
        await self.send_json({"type": "context.ack", "stored": len(data), "dropped": dropped})

    async def handle_end(self, frame: dict[str, Any]) -> None:
        """Closes the conversation for both sides; ending an ended chat repeats the answer."""
        conversation = self._require_conversation()
        self.conversation, was_closed = await self.unit(_close, conversation.pk)
        if was_closed:
            await self.send_json(
                {
                    "type": "conversation.closed",
                    "conversation": conversation_summary(self.conversation),
                }
            )

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        """The conversation's messages after `last_seen_id`, a page at a time (`cursor`)."""
        conversation = self._require_conversation()
        after_id = int_field(frame.get("last_seen_id"), "last_seen_id", required=False)
        cursor = int_field(frame.get("cursor"), "cursor", required=False)
        await self.send_json(
            await self.unit(messages_frame, {"type": "sync"}, [conversation.pk], after_id, cursor)
        )

    async def wants(self, event: dict[str, Any]) -> bool:
        kind = event["type"]
        if kind == "typing":
            return event.get("sender") == "agent"
        sender = event["message"].get("sender") if kind == "message.new" else None
        if kind == "message.new" and sender not in Message.VISIBLE_TO_VISITOR:
            # Notes are never published to this socket's groups (services.message_events);
            # this is the last line, should one ever be.
            return False
        if kind == "conversation.erased":
            await self.send_json(event)
            await self.close(code=Close.ERASED)
            return False
        if kind in ("conversation.updated", "conversation.closed") and self.conversation:
            self.conversation.status = event["conversation"]["status"]
            if self.conversation.status != Conversation.Status.WAITING:
                await self._follow_queue(False)
        if kind == "availability":
            # Someone's presence changed who is online: the next hello or start asks again.
            hooks.agents_online_forget()
        if kind == "queue.changed":
            await self._queue_changed(event["items"])
            return False
        return kind in (
            "message.new",
            "typing",
            "conversation.updated",
            "conversation.closed",
            "availability",
            "message.read",
        )


# --- sync units of work (one transaction each) ----------------------------------------------


def _availability(
    topic: Any = None,
    language: str = "",
    *,
    config: configuration.Snapshot | None = None,
    online: bool | None = None,
) -> dict[str, Any]:
    """Whether anyone answers, the opening hours (the topic's own, if it has any), the topics
    the visitor may pick from (none: no picker), the greeting and, when nobody is online, when
    an answer to a message left now can be expected."""
    config = config or configuration.current()
    if online is None:
        online = hooks.agents_online_recent()
    fields = {
        "agents_online": online,
        "opening_hours": topics.topic_opening_hours(
            topics.topic_resolve(topic, config) if topic else None, config
        ),
        "topics": topics.topic_choices(language[:2].lower() or "en", config),
        # Shown when the panel opens; nothing is stored until the visitor writes.
        "greeting": selectors.greeting_for(language, config),
    }
    if not online:
        # A message left now: when an answer can be expected.
        fields["answer"] = waiting.answer_expected()
    return fields


def _availability_reused(topic: Any, language: str) -> dict[str, Any] | None:
    """`_availability` from this process's recent reads alone (no query, so on the event loop),
    or None when it needs one: an answer or a read too old, nobody online (the answer expected
    to a message left offline is counted from the database), a greeting naming the agents, or
    a topic asked for while there is no default topic yet (it is made then)."""
    online = hooks.agents_online_reused()
    config = configuration.reused()
    if not online or config is None or (topic and config.default_topic() is None):
        return None
    greeting = config.greetings.get(language)
    if greeting is not None and greeting.show_agent_names:
        return None
    return _availability(topic, language, config=config, online=True)


def messages_fill(
    frame: frames.Frame,
    conversation_ids: list[int],
    after_id: int | None,
    cursor: int | None = None,
    *,
    include_notes: bool = False,
    **sync_fields: Any,
) -> None:
    """Puts into `frame` a page of the messages after `after_id` (and `cursor`) that fits.

    When more remain, `next.messages` is the `sync` that fetches the next page: the same
    request (`last_seen_id`, and `sync_fields`) with the cursor after this page. Internal
    notes only with `include_notes` (the console's frames, never the visitor's).
    """
    found = selectors.messages_after(
        conversation_ids=conversation_ids,
        after_id=after_id,
        cursor=cursor,
        include_notes=include_notes,
    )
    frame.put(
        "messages",
        frame.fill(
            "messages",
            (message_dict(m) for m in found),
            cursor=cursor,
            resume=lambda last: {
                "type": "sync",
                **sync_fields,
                "last_seen_id": after_id,
                "cursor": last,
            },
        ),
    )


def messages_frame(
    fields: dict[str, Any],
    conversation_ids: list[int],
    after_id: int | None,
    cursor: int | None = None,
    *,
    include_notes: bool = False,
    **sync_fields: Any,
) -> dict[str, Any]:
    """`fields` with a page of messages (see `messages_fill`), as one bounded frame."""
    frame = frames.Frame(fields, lists=["messages"])
    messages_fill(
        frame, conversation_ids, after_id, cursor, include_notes=include_notes, **sync_fields
    )
    return frame.build()


def _resume(
    returning: selectors.Returning,
    info: services.VisitorInfo,
    page: dict[str, str] | None,
    after_id: int | None,
    welcome: dict[str, Any],
) -> dict[str, Any]:
    """The `welcome` of a visitor back in their chat: its connection and page recorded when
    they changed, then a page of its messages after `after_id`."""
    conversation = returning.conversation
    if conversation.status != Conversation.Status.CLOSED:
        services.conversation_resume(
            conversation=conversation, info=info, newest=returning.connection
        )
        if page:
            services.page_visit_after(conversation=conversation, page=page, newest=returning.page)
    fields = {**welcome, "conversation": conversation_summary(conversation)}
    if conversation.status == Conversation.Status.WAITING:
        fields["queue"] = waiting.queue_status(conversation)
    return messages_frame(fields, [conversation.pk], after_id)


def _page_visit(conversation_id: int, page: dict[str, str]) -> None:
    conversation = Conversation.objects.get(pk=conversation_id)
    services.page_visit_record(conversation=conversation, page=page)


def _host_context(conversation_id: int, data: dict[str, Any]) -> None:
    conversation = Conversation.objects.get(pk=conversation_id)
    services.host_context_set(conversation=conversation, data=data)


def _close(conversation_id: int) -> tuple[Conversation, bool]:
    conversation = Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    was_closed = conversation.status == Conversation.Status.CLOSED
    conversation = services.conversation_close(
        conversation=conversation, closed_by=Conversation.ClosedBy.VISITOR
    )
    return conversation, was_closed
