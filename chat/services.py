"""Writes to the chat register. Each service persists, then announces after commit.

Services raise `ChatError(code)` for anything a client did wrong; consumers turn it into an
error frame. Codes are documented in docs/protocol.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from ua_parser import parse as parse_user_agent

from . import events
from .bidi import strip_bidi_controls
from .models import (
    AuditEvent,
    Conversation,
    HostContext,
    Message,
    PageVisit,
    VisitorConnection,
    hash_token,
    new_visitor_token,
)
from .serializers import conversation_summary, message_dict, page_visit_dict, queue_item_dict


class ChatError(Exception):
    """A client-caused error with a stable code (see docs/protocol.md)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


# --- validation -------------------------------------------------------------------------------


# Control characters other than tab and newline have no place in a chat message.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _clean_text(text: Any) -> str:
    if not isinstance(text, str):
        raise ChatError("bad_frame", "text must be a string")
    # One regular expression, not a generator per character (~60 steps per message).
    cleaned = _CONTROL.sub("", text).strip()
    if not cleaned:
        raise ChatError("empty", "message is empty")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows one, e.g. "\ud800") cannot be stored as text.
        raise ChatError("bad_frame", "text must be valid Unicode") from None
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError("too_long", f"message over {settings.CHAT_MAX_MESSAGE_CHARS} characters")
    return cleaned


def _clean_client_msg_id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isprintable():
        raise ChatError("bad_frame", "client_msg_id must be a string of 1 to 64 characters")
    return value


def _clip(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ChatError("bad_frame", "expected a string")
    return "".join(ch for ch in value if ch >= " " and ch != "\x7f")[:limit]


def clean_page(page: Any) -> dict[str, str] | None:
    """Validates a page descriptor `{url, title, referrer}`; URLs must be http(s)."""
    if page is None:
        return None
    if not isinstance(page, dict):
        raise ChatError("bad_frame", "page must be an object")
    url = _clip(page.get("url"), 2048)
    if not url.startswith(("http://", "https://")):
        raise ChatError("bad_frame", "page url must be http or https")
    referrer = _clip(page.get("referrer"), 2048)
    if referrer and not referrer.startswith(("http://", "https://")):
        referrer = ""
    return {"url": url, "title": _clip(page.get("title"), 300), "referrer": referrer}


def clean_context(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ChatError("bad_frame", "context must be an object")
    if len(json.dumps(data, ensure_ascii=False)) > settings.CHAT_MAX_CONTEXT_BYTES:
        raise ChatError("too_large", f"context over {settings.CHAT_MAX_CONTEXT_BYTES} characters")
    return data


def parse_device(user_agent: str) -> dict[str, str]:
    """Browser, OS and device type from a user agent, with the ua-parser rules."""
    result = parse_user_agent(user_agent or "")
    browser = result.user_agent.family if result.user_agent else ""
    os_name = result.os.family if result.os else ""
    device = result.device.family if result.device else ""
    ua = (user_agent or "").lower()
    if "ipad" in ua or "tablet" in ua or ("android" in ua and "mobile" not in ua):
        device_type = "tablet"
    elif "mobi" in ua or "iphone" in ua:
        device_type = "mobile"
    elif device == "Spider" or "bot" in ua:
        device_type = "bot"
    elif user_agent:
        device_type = "desktop"
    else:
        device_type = ""
    return {
        "browser": "" if browser == "Other" else browser[:64],
        "os": "" if os_name == "Other" else os_name[:64],
        "device_type": device_type,
    }


# --- visitor side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitorInfo:
    ip_address: str | None
    user_agent: str
    language: str
    screen: str


def _clean_screen(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    value = value[:16]
    w, _, h = value.partition("x")
    return value if w.isdigit() and h.isdigit() else ""


def visitor_info(
    *, ip_address: str | None, user_agent: str, language: Any, screen: Any
) -> VisitorInfo:
    lang = language if isinstance(language, str) else ""
    return VisitorInfo(
        ip_address=ip_address,
        user_agent=(user_agent or "")[:512],
        language=_clip(lang, 35),
        screen=_clean_screen(screen),
    )


def _record_connection(conversation: Conversation, info: VisitorInfo) -> VisitorConnection:
    return VisitorConnection.objects.create(
        conversation=conversation,
        ip_address=info.ip_address,
        user_agent=info.user_agent,
        language=info.language,
        screen=info.screen,
        **parse_device(info.user_agent),
    )


@transaction.atomic
def conversation_start(
    *,
    info: VisitorInfo,
    page: dict[str, str] | None,
    context: dict[str, Any] | None,
    text: str | None = None,
    client_msg_id: str | None = None,
) -> tuple[Conversation, str, Message | None]:
    """Opens a waiting conversation for a new visitor and returns it with its bearer token.

    Records the connection data, the current page and host context, and the first message if
    one is given. Agents are told after commit. The token is returned once and never stored.
    """
    token = new_visitor_token()
    conversation = Conversation.objects.create(
        token_hash=hash_token(token), language=(info.language or "")[:8]
    )
    _record_connection(conversation, info)
    if page:
        PageVisit.objects.create(conversation=conversation, **page)
    if context:
        HostContext.objects.create(conversation=conversation, data=context)
    message = None
    if text is not None:
        message, _ = message_create(
            conversation=conversation,
            sender=Message.Sender.VISITOR,
            text=text,
            client_msg_id=client_msg_id or "",
        )
    # The queue item itself, built once here: every console shows it without a query of its own.
    events.emit(
        events.AGENTS_GROUP,
        {
            "type": "queue.added",
            "conversation": queue_item_dict(conversation, message.text if message else "", page),
        },
    )
    return conversation, token, message


def conversation_resume(*, conversation: Conversation, info: VisitorInfo) -> None:
    """Records the visitor's connection data again when the device or address has changed."""
    last = conversation.connections.order_by("-id").first()
    if last and (last.ip_address, last.user_agent, last.screen) == (
        info.ip_address,
        info.user_agent,
        info.screen,
    ):
        return
    _record_connection(conversation, info)


def _insert_once(message: Message) -> bool:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: one round trip, no savepoint, no pre-read.

    False when a message with the same client id is already stored in the conversation.
    """
    ops = connection.ops
    columns = ["conversation_id", "sender", "agent_id", "author_name", "text", "client_msg_id"]
    params = [getattr(message, name) for name in columns]
    columns.append("created_at")
    params.append(ops.adapt_datetimefield_value(message.created_at))
    quoted = ", ".join(ops.quote_name(c) for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    # Only quoted model metadata is interpolated; values travel as parameters.
    table, pk = ops.quote_name(Message._meta.db_table), ops.quote_name("id")
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"  # noqa: S608
    sql += f" RETURNING {pk}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    return True


@transaction.atomic
def message_create(
    *,
    conversation: Conversation,
    sender: str,
    text: Any,
    client_msg_id: str = "",
    agent=None,
    author_name: str = "",
) -> tuple[Message, bool]:
    """Stores a message once per client message id; returns it and whether it is new.

    A resend of a known client id returns the stored message and announces it once more (the
    first copy's announcement may never have gone out), so retries are idempotent (also when
    two copies race). The insert and the conversation's
    activity time commit together; the new message is announced after commit.
    """
    clean = _clean_text(text) if sender != Message.Sender.SYSTEM else str(text)
    if client_msg_id:
        client_msg_id = _clean_client_msg_id(client_msg_id)
    if conversation.status == Conversation.Status.CLOSED and sender != Message.Sender.SYSTEM:
        # A resend of something stored before the chat ended still gets its acknowledgement.
        stored = (
            client_msg_id
            and Message.objects.filter(
                conversation=conversation, client_msg_id=client_msg_id
            ).first()
        )
        if stored:
            return stored, False
        raise ChatError("closed", "the conversation has ended")
    now = timezone.now()
    message = Message(
        conversation=conversation,
        sender=sender,
        agent=agent,
        author_name=strip_bidi_controls(author_name),
        text=clean,
        client_msg_id=client_msg_id,
        created_at=now,
    )
    if not _insert_once(message):
        stored = Message.objects.get(conversation=conversation, client_msg_id=client_msg_id)
        # The first copy may have committed without anyone hearing of it: the database failed
        # over (or the connection broke) between the commit and the answer, so its sender was
        # told "not stored" and nothing was announced. Announce it again; clients drop ids they
        # already have.
        events.emit(
            events.conversation_group(conversation.pk),
            {
                "type": "message.new",
                "conversation_id": conversation.pk,
                "message": message_dict(stored),
            },
        )
        return stored, False
    updates = {"last_activity_at": now}
    if sender == Message.Sender.AGENT and conversation.first_response_at is None:
        updates["first_response_at"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for field, value in updates.items():
        setattr(conversation, field, value)
    event = {
        "type": "message.new",
        "conversation_id": conversation.pk,
        "message": message_dict(message),
    }
    events.emit(events.conversation_group(conversation.pk), event)
    if conversation.status == Conversation.Status.WAITING:
        events.emit(events.AGENTS_GROUP, {**event, "type": "queue.message"})
    return message, True


@transaction.atomic
def page_visit_record(*, conversation: Conversation, page: dict[str, str]) -> PageVisit | None:
    """Stores a page the visitor opened during an open conversation; repeats are ignored."""
    if conversation.status == Conversation.Status.CLOSED:
        return None
    last = conversation.page_visits.order_by("-id").first()
    if last and (last.url, last.title) == (page["url"], page["title"]):
        return None
    visit = PageVisit.objects.create(conversation=conversation, **page)
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=visit.created_at)
    event = {
        "type": "page.view",
        "conversation_id": conversation.pk,
        "page": page_visit_dict(visit),
    }
    events.emit(events.conversation_group(conversation.pk), event)
    if conversation.status == Conversation.Status.WAITING:
        events.emit(events.AGENTS_GROUP, event)
    return visit


@transaction.atomic
def host_context_set(*, conversation: Conversation, data: Any) -> HostContext | None:
    """Stores context passed by the host page (bounded in size) when it differs from the last."""
    data = clean_context(data)
    last = conversation.host_contexts.order_by("-id").first()
    if last and last.data == data:
        return None
    ctx = HostContext.objects.create(conversation=conversation, data=data)
    events.emit(
        events.conversation_group(conversation.pk),
        {"type": "context.set", "conversation_id": conversation.pk, "context": data},
    )
    return ctx


# --- agent side -------------------------------------------------------------------------------


def display_name(user) -> str:
    """The agent's real name as the visitor sees it: first and last name, else the username.

    Without bidi controls, also for names saved before that rule: a name must not reorder the
    text it is shown in ("{name} joined the chat").
    """
    full = strip_bidi_controls(f"{user.first_name} {user.last_name}").strip()
    return full or strip_bidi_controls(user.get_username())


@transaction.atomic
def conversation_claim(*, conversation_id: int, agent) -> Conversation:
    """Assigns a waiting conversation to `agent`. Exactly one of several racing agents wins.

    The winner is decided by one conditional UPDATE; losers get ChatError("already_taken").
    """
    now = timezone.now()
    won = Conversation.objects.filter(
        pk=conversation_id, status=Conversation.Status.WAITING
    ).update(
        status=Conversation.Status.ACTIVE,
        assigned_agent=agent,
        claimed_at=now,
        last_activity_at=now,
    )
    if not won:
        if not Conversation.objects.filter(pk=conversation_id).exists():
            raise ChatError("not_found", "no such conversation")
        raise ChatError("already_taken", "another agent has already taken this chat")
    conversation = Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    _agent_joined(conversation, agent, {"type": "conversation.claimed"})
    return conversation


def _agent_joined(conversation: Conversation, agent, agents_event: dict[str, Any]) -> None:
    """Tells the visitor (a system message naming the agent) and every console who joined."""
    name = display_name(agent)
    message_create(
        conversation=conversation,
        sender=Message.Sender.SYSTEM,
        text=f"{name} joined the chat",
        author_name=name,
    )
    summary = conversation_summary(conversation, agent_name=name)
    events.emit(events.AGENTS_GROUP, {**agents_event, "conversation": summary})
    events.emit(
        events.conversation_group(conversation.pk),
        {"type": "conversation.updated", "conversation": summary},
    )


@transaction.atomic
def conversation_transfer(*, conversation: Conversation, from_agent, to_agent) -> Conversation:
    """Hands an active conversation to another agent; the visitor is told who joined."""
    if conversation.status != Conversation.Status.ACTIVE:
        raise ChatError("not_active", "only an active chat can be transferred")
    if to_agent.pk == from_agent.pk:
        raise ChatError("bad_frame", "cannot transfer a chat to yourself")
    Conversation.objects.filter(pk=conversation.pk).update(assigned_agent=to_agent)
    conversation.assigned_agent = to_agent
    _agent_joined(
        conversation,
        to_agent,
        {"type": "conversation.transferred", "from_agent_id": from_agent.pk},
    )
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation, closed_by: str) -> Conversation:
    """Ends a conversation (idempotently); both sides are told after commit."""
    if conversation.status == Conversation.Status.CLOSED:
        return conversation
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(
        status=Conversation.Status.CLOSED, closed_at=now, closed_by=closed_by, last_activity_at=now
    )
    conversation.status = Conversation.Status.CLOSED
    conversation.closed_at = now
    conversation.closed_by = closed_by
    summary = conversation_summary(conversation)
    event = {"type": "conversation.closed", "conversation": summary}
    events.emit(events.conversation_group(conversation.pk), event)
    events.emit(events.AGENTS_GROUP, event)
    return conversation


# --- audit ------------------------------------------------------------------------------------


def audit_record(
    *,
    action: str,
    actor=None,
    actor_name: str = "",
    object_ref: str = "",
    actor_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Appends one audit event. Callers must pass no message text and no visitor address.

    `actor_name` names an actor without an account (e.g. "manage.py"); an account's username wins.
    """
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=strip_bidi_controls(
            actor.get_username() if getattr(actor, "pk", None) else actor_name[:150]
        ),
        action=action,
        object_ref=object_ref[:100],
        actor_ip=actor_ip,
        detail=detail or {},
    )
