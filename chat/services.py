"""Writes to the chat register. Each service persists, then announces after commit.

Services raise `ChatError(code)` for anything a client did wrong; consumers turn it into an
error frame. Codes are documented in docs/protocol.md.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, models, transaction
from django.utils import timezone
from ua_parser import parse as parse_user_agent

from realtime import events, limits, units
from realtime.prepared import Prepared
from realtime.protocol import ClientError

from . import configuration, hooks, identifiers, system_events, topics, waiting, writer
from .bidi import strip_bidi_controls
from .models import (
    AuditEvent,
    Conversation,
    HostContext,
    Message,
    PageVisit,
    Participation,
    Tag,
    Topic,
    VisitorConnection,
    WrapUpReason,
    hash_token,
    new_visitor_token,
)
from .serializers import (
    conversation_summary,
    display_name,
    message_dict,
    page_visit_dict,
    queue_item_dict,
)


class ChatError(ClientError):
    """A client-caused error of the chat's rules, with a stable code (see docs/protocol.md)."""


# --- validation -------------------------------------------------------------------------------


# Control characters other than tab and newline have no place in a chat message.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: Any) -> str:
    """A person's message text as it is stored; ChatError when it cannot be stored.

    The one place a message's text is checked: `message_send` and `conversation_open` call it
    once per message.
    """
    if not isinstance(text, str):
        raise ChatError("bad_frame", "text must be a string")
    # One regular expression, not a generator per character (~60 steps per message).
    # The identifier guard runs here, before the text reaches any writer, event or log.
    cleaned = identifiers.guard(_CONTROL.sub("", text)).strip()
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


def clean_client_msg_id(value: Any) -> str:
    """The sender's id of a message (its resends carry the same one); ChatError if malformed."""
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
    """Validates a page descriptor `{url, title, referrer}` and keeps only what the notice covers.

    URLs must be http(s). A URL keeps no fragment, no user name or password, and only the query
    parameters listed in `CHAT_PAGE_QUERY_PARAMS`; e-mail addresses and identifiers in its path,
    in kept parameters and in the title are masked. A referrer from another site is kept as its
    origin only (a search engine's referrer would otherwise carry the visitor's search terms).
    """
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
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ChatError("bad_frame", "page url is malformed") from None
    try:
        referrer_parts = urlsplit(referrer) if referrer else None
    except ValueError:
        referrer, referrer_parts = "", None
    if referrer_parts is not None and _origin(referrer_parts) != _origin(parts):
        referrer = f"{_origin(referrer_parts)}/"
    elif referrer_parts is not None:
        referrer = _minimise_url(referrer_parts)
    return {
        "url": _minimise_url(parts),
        "title": identifiers.guard_page(_clip(page.get("title"), 300)),
        "referrer": referrer,
    }


def _origin(parts) -> str:
    host = (parts.hostname or "").lower()
    port = _port(parts)
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}"


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _masked_part(raw: str, decode) -> str:
    """`raw` as it was, or, if its decoded form holds an identifier or address, that form masked."""
    decoded = decode(raw)
    masked = identifiers.guard_page(decoded)
    return raw if masked == decoded else masked


def _minimise_url(parts) -> str:
    """The URL without fragment, credentials and unlisted query parameters, identifiers masked."""
    path = "/".join(_masked_part(segment, unquote) for segment in parts.path.split("/"))
    kept = []
    for pair in parts.query.split("&") if parts.query else []:
        name, eq, value = pair.partition("=")
        if unquote_plus(name) in settings.CHAT_PAGE_QUERY_PARAMS:
            kept.append(f"{name}{eq}{_masked_part(value, unquote_plus)}")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, path, "&".join(kept), ""))


def clean_context(data: Any) -> dict[str, Any]:
    """The host context as stored: only the keys in `CHAT_CONTEXT_KEYS`, identifiers masked.

    The size limit applies to what was sent. Other keys are dropped without an error; the
    sender learns how many from `context_keys_dropped`.
    """
    if not isinstance(data, dict):
        raise ChatError("bad_frame", "context must be an object")
    if len(json.dumps(data, ensure_ascii=False)) > settings.CHAT_MAX_CONTEXT_BYTES:
        raise ChatError("too_large", f"context over {settings.CHAT_MAX_CONTEXT_BYTES} characters")
    allowed = settings.CHAT_CONTEXT_KEYS
    return {key: _guard_value(value) for key, value in data.items() if key in allowed}


def context_keys_dropped(data: Any) -> int:
    """How many keys of a host context `clean_context` leaves out (not in `CHAT_CONTEXT_KEYS`)."""
    if not isinstance(data, dict):
        return 0
    return sum(1 for key in data if key not in settings.CHAT_CONTEXT_KEYS)


def _guard_value(value: Any) -> Any:
    if isinstance(value, str):
        return identifiers.guard(value)
    if isinstance(value, list):
        return [_guard_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _guard_value(item) for key, item in value.items()}
    return value


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


def _connection_fields(info: VisitorInfo) -> dict[str, Any]:
    """A connection as stored: the user agent parsed, the raw string only if the operator asks."""
    return {
        "ip_address": info.ip_address,
        "user_agent": info.user_agent if settings.CHAT_STORE_USER_AGENT else "",
        "language": info.language,
        "screen": info.screen,
        **parse_device(info.user_agent),
    }


@functools.cache
def _latest_query(model: type[models.Model]) -> Prepared:
    return Prepared(
        lambda conversation_id: model._default_manager.filter(
            conversation_id=conversation_id
        ).order_by("-id")[:1],
        int,
    )


def _latest(model: type[models.Model], conversation: Conversation) -> Any:
    """The newest row of a chat's connections, pages or host contexts (None: none yet). Asked
    on every visitor's way back in: compiled once per model."""
    return _latest_query(model).first(conversation.pk)


def clean_contact(value: Any) -> str:
    """The visitor's e-mail address for the answer to a message left offline; "" for none.

    Refused (`bad_contact`) unless CHAT_OFFLINE_CONTACT is on and it is one plain address.
    """
    if value is None or value == "":
        return ""
    if not settings.CHAT_OFFLINE_CONTACT:
        raise ChatError("bad_contact", "a contact address is not taken here")
    if not isinstance(value, str) or len(value) > 254:
        raise ChatError("bad_contact", "the contact must be one e-mail address")
    value = value.strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ChatError("bad_contact", "the contact must be one e-mail address") from None
    return value


def _left_offline(offline: bool, online: bool | None = None) -> bool:
    """Whether a new chat is a message left while nobody is online. A visitor who asked to
    leave one when an agent has meanwhile come online gets an ordinary chat; one who did not
    ask, with nobody online, is refused (`unavailable`). `online`: the answer already known
    (else a recent one is asked for, `hooks.agents_online_recent`: every new chat asks)."""
    if online is None:
        online = hooks.agents_online_recent()
    if online:
        return False
    if not offline:
        # A visitor may not open a chat that nobody would read.
        raise ChatError("unavailable", "no agent is online; see the opening hours")
    return True


async def conversation_open(
    *,
    info: VisitorInfo,
    ip_address: str | None,
    page: Any,
    context: Any,
    text: Any,
    client_msg_id: Any,
    topic: Any = None,
    offline: Any = False,
    contact: Any = None,
) -> tuple[Conversation, str, dict[str, Any]]:
    """Opens a conversation with the visitor's first message, when an agent is online, or as
    a message left for customer service (`offline`) when nobody is.

    Everything the visitor sent is checked first; then `unavailable` when no agent is online
    and the visitor did not ask to leave a message, `rate_limited` when the address opened too
    many chats. A message left offline is a chat like any other (same limits, identifier guard
    and retention); it waits in the console's own list. Returns the conversation, its bearer
    token (once, never stored) and the first message as clients see it.
    """
    text = clean_text(text)
    client_msg_id = clean_client_msg_id(client_msg_id)
    page = clean_page(page)
    context = clean_context(context) if context is not None else None
    if not isinstance(offline, bool):
        raise ChatError("bad_frame", "offline must be true or false")
    contact_email = clean_contact(contact)
    # Who is online: this process's answer of the last second when it has one (its hellos keep
    # it fresh), else a unit of its own. Refused as unavailable before the allowance counts.
    online = hooks.agents_online_reused()
    if online is None:
        offline = await units.run_unit(_left_offline, offline)
    else:
        offline = _left_offline(offline, online)
    if not await limits.ip_new_conversation_allowed_async(ip_address):
        raise ChatError("rate_limited", "too many new conversations from this address")
    start = {
        "info": info,
        "page": page,
        "context": context,
        "text": text,
        "client_msg_id": client_msg_id,
        "offline": offline,
        # Only a message left for later needs an address for the answer.
        "contact_email": contact_email if offline else "",
    }
    # On PostgreSQL the chat goes to this event loop's group commit of new chats: no thread hop
    # but one a second at most, for the read of the configuration the topic is taken from.
    if writer.enabled():
        config = _configuration_reused() or await units.run_unit(_start_configuration)
        chat = new_chat(topic=topics.topic_resolve(topic, config), **start)
        if await writer.chat_store(chat, start_events):
            if not offline:
                units.coalescer(waiting.QUEUE_ANNOUNCEMENT).request()
            first = chat.message
            assert first is not None  # `text` was cleaned above: every chat opened here has one
            return chat.conversation, chat.token, message_dict(first)
        # Not stored (the batch broke a rule and was rolled back): the general path decides.
    conversation, token, message = await units.run_unit(conversation_start, topic=topic, **start)
    return conversation, token, message_dict(message)


def _configuration_reused() -> configuration.Snapshot | None:
    config = configuration.reused()
    return config if config is not None and config.default_topic() is not None else None


def _start_configuration() -> configuration.Snapshot:
    """The configuration a new chat's topic is taken from, with a default topic (marked or made
    again if the director removed the mark from every topic)."""
    config = configuration.current()
    if config.default_topic() is None:
        topics.topic_default(config)
        config = configuration.current()
    return config


def new_chat(
    *,
    info: VisitorInfo,
    page: dict[str, str] | None,
    context: dict[str, Any] | None,
    topic: Topic,
    text: str | None = None,
    client_msg_id: str = "",
    offline: bool = False,
    contact_email: str = "",
) -> writer.NewChat:
    """A new waiting chat as rows not yet stored (no query): the conversation, the connection
    data, the current page and host context, and the first message if one is given (`text` and
    `client_msg_id` as `conversation_open` cleaned them). Stored by `conversation_start` (ORM, a
    unit of work) or by the group commit of new chats (`writer.chat_store`)."""
    token = new_visitor_token()
    now = timezone.now()
    conversation = Conversation(
        created_at=now,
        last_activity_at=now,
        token_hash=hash_token(token),
        language=(info.language or "")[:8],
        topic=topic,
        left_offline=offline,
        contact_email=contact_email,
    )
    rows: list[models.Model] = [
        VisitorConnection(conversation=conversation, created_at=now, **_connection_fields(info))
    ]
    if page:
        rows.append(PageVisit(conversation=conversation, created_at=now, **page))
    context = clean_context(context) if context else None
    if context:
        rows.append(HostContext(conversation=conversation, data=context, created_at=now))
    message = None
    if text is not None:
        # The chat is new: no message can hold its client id yet, and its activity time is the
        # message's. One INSERT, where `_message_write` needs a savepoint and an UPDATE.
        message = Message(
            conversation=conversation,
            sender=Message.Sender.VISITOR,
            text=text,
            client_msg_id=client_msg_id,
            created_at=now,
        )
        rows.append(message)
    return writer.NewChat(conversation, token, rows, message, page)


def start_events(chat: writer.NewChat) -> list[tuple[str, dict[str, Any]]]:
    """What a stored new chat announces: its first message (to the chat and the queue), then
    the queue item itself, built once here: every console shows it without a query of its own."""
    conversation, message = chat.conversation, chat.message
    announced = []
    if message is not None:
        announced = message_events(
            conversation_id=conversation.pk,
            message=message_dict(message),
            waiting=conversation.status == Conversation.Status.WAITING,
        )
    item = queue_item_dict(conversation, message.text if message else "", chat.page)
    announced.append((events.AGENTS_GROUP, {"type": "queue.added", "conversation": item}))
    return announced


@transaction.atomic
def conversation_start(
    *,
    info: VisitorInfo,
    page: dict[str, str] | None,
    context: dict[str, Any] | None,
    text: str | None = None,
    client_msg_id: str = "",
    topic: Any = None,
    offline: bool = False,
    contact_email: str = "",
) -> tuple[Conversation, str, Message | None]:
    """Opens a waiting conversation for a new visitor and returns it with its bearer token.

    Stores the rows of `new_chat`, with the topic by slug (unknown or none: the default topic,
    see chat.topics). Agents are told after commit (`start_events`), and routing
    (`conversation_waiting` hook) offers it to an agent. The token is returned once and never
    stored. `offline`: left as a message while nobody was online.
    """
    chat = new_chat(
        info=info,
        page=page,
        context=context,
        topic=topics.topic_resolve(topic),
        text=text,
        client_msg_id=client_msg_id,
        offline=offline,
        contact_email=contact_email,
    )
    chat.conversation.save(force_insert=True)
    for row in chat.rows:
        row.conversation = chat.conversation  # type: ignore[attr-defined]
        row.save(force_insert=True)
    for group, event in start_events(chat):
        events.emit(group, event)
    if not offline:
        waiting.queue_changed()
    _route_after_commit(chat.conversation.pk)
    return chat.conversation, chat.token, chat.message


def _route_after_commit(conversation_id: int) -> None:
    """Hands a waiting chat to routing (agents plugs in) once it is committed, in a transaction
    of its own: the decision locks agents' rows and must not hold the chat's insert open."""
    transaction.on_commit(
        lambda: hooks.call("conversation_waiting", conversation_id=conversation_id), robust=True
    )


def conversation_resume(
    *, conversation: Conversation, info: VisitorInfo, newest: dict[str, Any] | None
) -> None:
    """Records the visitor's connection data again when the device or address has changed.

    `newest` is the chat's newest connection as `selectors.returning_visitor` read it (its
    `VisitorConnection.DEVICE_FIELDS`), None when it has none."""
    fields = _connection_fields(info)
    if newest and all(newest[name] == fields[name] for name in VisitorConnection.DEVICE_FIELDS):
        return
    VisitorConnection.objects.create(conversation=conversation, **fields)


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


# --- messages ---------------------------------------------------------------------------------


def message_events(
    *, conversation_id: int, message: dict[str, Any], waiting: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The events that announce a stored message (both write paths): `message.new` to the
    conversation, and while it waits, `queue.message` to every console's queue; an internal
    note only to the staff following the conversation (`conversation_staff_group`)."""
    event = {"type": "message.new", "conversation_id": conversation_id, "message": message}
    if message["sender"] == Message.Sender.NOTE:
        # An internal note goes to the consoles following the chat only: the conversation's
        # group holds the visitor's sockets, and the queue is every console's.
        return [(events.conversation_staff_group(conversation_id), event)]
    announced = [(events.conversation_group(conversation_id), event)]
    if waiting:
        announced.append((events.AGENTS_GROUP, {**event, "type": "queue.message"}))
    return announced


async def message_send(
    *,
    conversation_id: int,
    sender: str,
    text: Any,
    client_msg_id: Any,
    agent=None,
    batched: bool = True,
) -> dict[str, Any]:
    """Stores what a visitor or an agent wrote, once per client message id, and announces it
    after commit; returns the message as clients see it (for the sender's `message.ack`).

    The one way a person's message is stored; every rule is here or behind it:
    - text and client id are cleaned here, once (`clean_text`, `clean_client_msg_id`);
    - an agent writes only into a conversation assigned to them (else `not_found`, as if the
      chat did not exist);
      a visitor's socket holds the conversation's token, so its id is the visitor's own;
    - a waiting conversation with no agent online becomes a message left for customer service
      (`left_offline`, out of the queue) and takes the visitor's message; a closed one refuses
      every new message (`closed`), but a resend of a stored client id is answered with the
      stored message;
    - a resend is never stored twice; it announces the stored message again to the
      conversation (a process that committed it may have died before announcing it, and
      receivers drop ids they have); a new message moves the
      conversation's activity time, and an agent's first one its first-response time;
    - an internal note (`sender="note"`) follows an agent message's rules (its writer is the
      assigned agent, the identifier guard cleans it), but it is never announced to the
      conversation's group, which holds the visitor's sockets (`message_events`), it is no
      response to the visitor, and it always takes the general path.

    `batched` says the caller believes the conversation active and the sender's (its socket
    follows it). Then, on PostgreSQL, the message goes to this event loop's group-commit writer
    (chat/writer.py), with no thread hop; whatever the writer does not store (not active, not
    the sender's, a resend) takes the general path: one unit in a database thread.
    """
    staff = (Message.Sender.AGENT, Message.Sender.NOTE)
    if sender not in (Message.Sender.VISITOR, *staff):
        raise ValueError(f"people write as visitor, agent or note, not {sender!r}")
    text = clean_text(text)
    client_msg_id = clean_client_msg_id(client_msg_id)
    agent = agent if sender in staff else None
    # Notes are few; the writer's statement stores visitors' and agents' messages only.
    batched = batched and sender != Message.Sender.NOTE
    message = {
        "sender": sender,
        "text": text,
        "client_msg_id": client_msg_id,
        "author_name": display_name(agent) if agent is not None else "",
    }
    if batched:
        stored = await writer.message_store(
            conversation_id=conversation_id,
            agent_id=agent.pk if agent is not None else None,
            **message,
        )
        if stored is not None:
            # The writer stores into active conversations only: nothing for the queue.
            await events.publish(
                message_events(conversation_id=conversation_id, message=stored, waiting=False)
            )
            return stored
    stored = await units.run_unit(
        _message_send_general, conversation_id=conversation_id, agent=agent, **message
    )
    return message_dict(stored)


def _message_send_general(*, conversation_id: int, agent, **message: str) -> Message:
    """`message_send`'s general path (a unit of work): the rules on the ORM, then the write."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise ChatError("not_found", "no such conversation")
    sender = message["sender"]
    if sender in (Message.Sender.AGENT, Message.Sender.NOTE) and (
        agent is None or conversation.assigned_agent_id != agent.pk
    ):
        # Need to know: a chat that is not the agent's is answered as if it did not exist.
        raise ChatError("not_found", "no such conversation")
    if (
        sender == Message.Sender.VISITOR
        and conversation.status == Conversation.Status.WAITING
        and not conversation.left_offline
    ):
        known = conversation.messages.filter(client_msg_id=message["client_msg_id"])
        if not known.exists() and not hooks.agents_online():
            # Everyone left while the visitor waited: the chat becomes a message left for
            # customer service (the panel said so), out of the queue, answered when they are back.
            _conversation_left_offline(conversation)
    return _message_write(conversation=conversation, agent=agent, **message)


@transaction.atomic
def _conversation_left_offline(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(left_offline=True)
    conversation.left_offline = True
    waiting.queue_changed()


@transaction.atomic
def _message_write(
    *,
    conversation: Conversation,
    sender: str,
    text: str,
    client_msg_id: str = "",
    agent=None,
    author_name: str = "",
) -> Message:
    """Stores a message (text and names already clean) once per client id, on the ORM.

    The general path of `message_send`, and the write of a chat's first message and of
    system lines. A resend of a known client id returns the stored message (also when two
    copies race) and announces it again to the conversation only: whoever stored it may have
    died between the commit and the announcement. The insert and the conversation's times
    commit together; the new message is announced after commit.
    """
    if conversation.status == Conversation.Status.CLOSED and sender != Message.Sender.SYSTEM:
        # A resend of something stored before the chat ended still gets its acknowledgement.
        stored = (
            client_msg_id
            and Message.objects.filter(
                conversation=conversation, client_msg_id=client_msg_id
            ).first()
        )
        if stored:
            return stored
        raise ChatError("closed", "the conversation has ended")
    now = timezone.now()
    message = Message(
        conversation=conversation,
        sender=sender,
        agent=agent,
        author_name=author_name,
        text=text,
        client_msg_id=client_msg_id,
        created_at=now,
    )
    if not _insert_once(message):
        stored = Message.objects.get(conversation=conversation, client_msg_id=client_msg_id)
        # Again to the conversation only (a note's: its staff), not to the queue.
        _message_announce(conversation, stored, waiting=False)
        return stored
    updates = {"last_activity_at": now}
    if sender == Message.Sender.AGENT and conversation.first_response_at is None:
        updates["first_response_at"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for field, value in updates.items():
        setattr(conversation, field, value)
    _message_announce(conversation, message)
    return message


def _message_announce(
    conversation: Conversation, message: Message, *, waiting: bool | None = None
) -> None:
    """Announces a stored message after commit (`message_events`); `waiting` defaults to the
    conversation's own state."""
    if waiting is None:
        waiting = conversation.status == Conversation.Status.WAITING
    for group, event in message_events(
        conversation_id=conversation.pk, message=message_dict(message), waiting=waiting
    ):
        events.emit(group, event)


def page_visit_record(*, conversation: Conversation, page: dict[str, str]) -> PageVisit | None:
    """Stores a page the visitor opened during an open conversation; repeats are ignored."""
    if conversation.status == Conversation.Status.CLOSED:
        return None
    last = _latest(PageVisit, conversation)
    newest = (last.url, last.title) if last else None
    return page_visit_after(conversation=conversation, page=page, newest=newest)


def page_visit_after(
    *, conversation: Conversation, page: dict[str, str], newest: tuple[str, str] | None
) -> PageVisit | None:
    """`page_visit_record` when the chat's newest page (url, title) is known (None: none yet).
    A repeat is ignored without a transaction."""
    if conversation.status == Conversation.Status.CLOSED:
        return None
    if newest == (page["url"], page["title"]):
        return None
    return _page_visit_store(conversation, page)


@transaction.atomic
def _page_visit_store(conversation: Conversation, page: dict[str, str]) -> PageVisit:
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
    last = _latest(HostContext, conversation)
    # Nothing new, or nothing at all once unlisted keys are dropped.
    if (last.data if last else {}) == data:
        return None
    ctx = HostContext.objects.create(conversation=conversation, data=data)
    events.emit(
        events.conversation_group(conversation.pk),
        {"type": "context.set", "conversation_id": conversation.pk, "context": data},
    )
    return ctx


# --- agent side -------------------------------------------------------------------------------


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
        offered_to=None,
        offered_at=None,
        offers_passed=None,
    )
    if not won:
        # Lost a race for a chat every console saw queued; any other chat is not the agent's
        # business and is refused as if it did not exist.
        if not Conversation.objects.filter(
            pk=conversation_id, status=Conversation.Status.ACTIVE
        ).exists():
            raise ChatError("not_found", "no such conversation")
        raise ChatError("already_taken", "another agent has already taken this chat")
    conversation = Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    participation_record(conversation=conversation, agent=agent, via=Participation.Via.CLAIMED)
    _agent_joined(conversation, agent, {"type": "conversation.claimed"})
    waiting.queue_changed()
    return conversation


def participation_record(*, conversation: Conversation, agent, via: str) -> None:
    """Remembers that `agent` took part in `conversation` (once; a later return adds nothing).

    This, the assignment and the agent's own messages are what "took part" means for the
    history (see `agents.selectors.readable_conversations`).
    """
    Participation.objects.bulk_create(
        [Participation(conversation=conversation, agent=agent, via=via)], ignore_conflicts=True
    )


@transaction.atomic
def system_event_record(*, conversation: Conversation, kind: str, **data: str) -> Message:
    """Stores a system event (chat/system_events.py) in the conversation as a fact, not a
    sentence: each viewer tells it in their own language. Announced like a message after
    commit (`message.new`, with `message.event`)."""
    if kind not in system_events.KINDS:
        raise ValueError(f"unknown system event {kind!r}")
    data = {key: strip_bidi_controls(value) for key, value in data.items() if value}
    message = Message.objects.create(
        conversation=conversation,
        sender=Message.Sender.SYSTEM,
        author_name=data.get("name", ""),
        text="",
        event=kind,
        event_data=data,
    )
    for group, event in message_events(
        conversation_id=conversation.pk,
        message=message_dict(message),
        waiting=conversation.status == Conversation.Status.WAITING,
    ):
        events.emit(group, event)
    return message


def _agent_joined(
    conversation: Conversation, agent, agents_event: dict[str, Any], *, from_agent=None
) -> None:
    """Tells the visitor (an event naming the agent) and every console who joined."""
    name = display_name(agent)
    if from_agent is None:
        system_event_record(conversation=conversation, kind=system_events.JOINED, name=name)
    else:
        system_event_record(
            conversation=conversation,
            kind=system_events.TRANSFERRED,
            name=name,
            **{"from": display_name(from_agent)},
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
    participation_record(
        conversation=conversation, agent=to_agent, via=Participation.Via.TRANSFERRED
    )
    _agent_joined(
        conversation,
        to_agent,
        {"type": "conversation.transferred", "from_agent_id": from_agent.pk},
        from_agent=from_agent,
    )
    return conversation


@transaction.atomic
def conversation_transfer_topic(
    *, conversation: Conversation, from_agent, topic: Topic
) -> Conversation:
    """Hands an active conversation to a topic: it waits again (history kept) in that topic's
    queue and routing offers it on, not to the agent who handed it over while others can."""
    if conversation.status != Conversation.Status.ACTIVE:
        raise ChatError("not_active", "only an active chat can be transferred")
    Conversation.objects.filter(pk=conversation.pk).update(
        status=Conversation.Status.WAITING,
        assigned_agent=None,
        topic=topic,
        offered_to=None,
        offered_at=None,
        offers_passed=[from_agent.pk],
    )
    conversation.status = Conversation.Status.WAITING
    conversation.assigned_agent = None
    conversation.topic = topic
    system_event_record(
        conversation=conversation,
        kind=system_events.TRANSFERRED,
        name=topic.name(conversation.language[:2]),
        **{"from": display_name(from_agent)},
    )
    summary = conversation_summary(conversation)
    events.emit(
        events.AGENTS_GROUP,
        {
            "type": "conversation.transferred",
            "from_agent_id": from_agent.pk,
            "conversation": summary,
        },
    )
    events.emit(
        events.conversation_group(conversation.pk),
        {"type": "conversation.updated", "conversation": summary},
    )
    first = conversation.messages.filter(sender=Message.Sender.VISITOR).order_by("id").first()
    page = _latest(PageVisit, conversation)
    events.emit(
        events.AGENTS_GROUP,
        {
            "type": "queue.added",
            "conversation": queue_item_dict(
                conversation,
                first.text if first else "",
                {"url": page.url, "title": page.title} if page else None,
            ),
        },
    )
    _route_after_commit(conversation.pk)
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation, closed_by: str) -> Conversation:
    """Ends a conversation (idempotently); both sides are told after commit."""
    if conversation.status == Conversation.Status.CLOSED:
        return conversation
    if conversation.status == Conversation.Status.WAITING:
        waiting.queue_changed()
    ended_by = {"by": closed_by}
    if closed_by == Conversation.ClosedBy.AGENT and conversation.assigned_agent_id:
        ended_by["name"] = display_name(conversation.assigned_agent)
    system_event_record(conversation=conversation, kind=system_events.ENDED, **ended_by)
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(
        status=Conversation.Status.CLOSED,
        closed_at=now,
        closed_by=closed_by,
        last_activity_at=now,
        offered_to=None,
        offered_at=None,
    )
    conversation.status = Conversation.Status.CLOSED
    conversation.closed_at = now
    conversation.closed_by = closed_by
    summary = conversation_summary(conversation)
    event = {"type": "conversation.closed", "conversation": summary}
    events.emit(events.conversation_group(conversation.pk), event)
    events.emit(events.AGENTS_GROUP, event)
    # An agent has room again (or an offered chat went away): routing looks at the queue.
    transaction.on_commit(lambda: hooks.call("capacity_freed"), robust=True)
    return conversation


#: The most tags one chat may carry.
MAX_TAGS = 20


def _ids(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise ChatError("bad_frame", f"{name} must be a list of at most {MAX_TAGS} ids")
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in value):
        raise ChatError("bad_frame", f"{name} must hold non-negative integers")
    return sorted(set(value))


@transaction.atomic
def conversation_wrap_up(
    *, conversation: Conversation, agent, reason_id: Any, tag_ids: Any
) -> Conversation:
    """Stores the agent's wrap-up of a chat: a reason and tags from the director's lists.

    Only the agent the chat is assigned to, while it is active or after it has ended (the
    visitor may end it first); a chat that is not theirs is `not_found`. Only active items of
    the lists are accepted (`bad_wrap_up` otherwise, nothing stored); a second wrap-up replaces
    the first. The agent's consoles are told after commit (`conversation.wrapped_up`).
    """
    if agent is None or conversation.assigned_agent_id != agent.pk:
        raise ChatError("not_found", "no such conversation")
    if conversation.status == Conversation.Status.WAITING:
        raise ChatError("not_active", "a waiting chat has no wrap-up")
    reason = None
    if reason_id is not None:
        (rid,) = _ids([reason_id], "reason_id")
        reason = WrapUpReason.objects.filter(pk=rid, active=True).first()
        if reason is None:
            raise ChatError("bad_wrap_up", "no such wrap-up reason")
    wanted = _ids(tag_ids if tag_ids is not None else [], "tag_ids")
    tags = list(Tag.objects.filter(pk__in=wanted, active=True))
    if len(tags) != len(wanted):
        raise ChatError("bad_wrap_up", "no such tag")
    Conversation.objects.filter(pk=conversation.pk).update(wrap_up_reason=reason)
    conversation.wrap_up_reason = reason
    conversation.tags.set(tags)
    events.emit(
        events.agent_group(agent.pk),
        {
            "type": "conversation.wrapped_up",
            "conversation_id": conversation.pk,
            "wrap_up": {"reason_id": reason.pk if reason else None, "tag_ids": wanted},
        },
    )
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
