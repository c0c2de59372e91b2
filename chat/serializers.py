"""Plain dicts for events and frames: the one shape of each record that clients see."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings

from .bidi import strip_bidi_controls
from .models import Conversation, Message, PageVisit
from .system_events import event_of


def display_name(user) -> str:
    """The agent's real name as the visitor sees it: first and last name, else the username.

    Without bidi controls, also for names saved before that rule: a name must not reorder the
    text it is shown in ("{name} joined the chat").
    """
    full = strip_bidi_controls(f"{user.first_name} {user.last_name}").strip()
    return full or strip_bidi_controls(user.get_username())


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def message_dict(message: Message | SimpleNamespace) -> dict[str, Any]:
    """A message as clients see it; `message` is a Message or a record with the same fields."""
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "sender": message.sender,
        "author_name": message.author_name,
        "text": message.text,
        "client_msg_id": message.client_msg_id or None,
        "created_at": _iso(message.created_at),
        # A system event as a fact ({"kind": ..., "name"?, "from"?, "by"?}); clients tell it.
        "event": event_of(message),
    }


def page_visit_dict(visit: PageVisit) -> dict[str, Any]:
    return {
        "url": visit.url,
        "title": visit.title,
        "referrer": visit.referrer,
        "created_at": _iso(visit.created_at),
    }


def queue_item_dict(
    conversation: Conversation, first_message: str, page: dict[str, str] | None
) -> dict[str, Any]:
    """A waiting conversation as the agents' queue shows it: first message and current page."""
    return {
        **conversation_summary(conversation),
        "language": conversation.language,
        "first_message": first_message,
        # Routing: the agent it is offered to while it waits (agents' queue only).
        "offered_to_id": conversation.offered_to_id,
        # When that offer passes on (CHAT_OFFER_TIMEOUT_SECONDS after it was made): the
        # console's countdown.
        "offer_expires_at": (
            conversation.offered_at + timedelta(seconds=settings.CHAT_OFFER_TIMEOUT_SECONDS)
        ).isoformat()
        if conversation.offered_at and conversation.offered_to_id
        else None,
        "current_page": {"url": page["url"], "title": page["title"]} if page else None,
        # Left while nobody was online: the console lists it apart from the queue.
        "offline": conversation.left_offline,
    }


def conversation_summary(
    conversation: Conversation, agent_name: str | None = None
) -> dict[str, Any]:
    """What both sides may know of a conversation; never the token or the visitor's address."""
    if agent_name is None and conversation.assigned_agent_id:
        agent_name = display_name(conversation.assigned_agent)
    return {
        "id": conversation.pk,
        "reference": conversation.reference,
        "status": conversation.status,
        "agent_id": conversation.assigned_agent_id,
        "agent_name": agent_name or None,
        "topic_id": conversation.topic_id,
        "created_at": _iso(conversation.created_at),
        "claimed_at": _iso(conversation.claimed_at),
        "closed_at": _iso(conversation.closed_at),
    }


#: The languages the product writes to a visitor in (exports, the answer notice e-mail).
VISITOR_LANGUAGES = ("fi", "sv", "en")


def visitor_language(language: str | None) -> str:
    """The language a text for the visitor speaks: the chat's own (fi, sv or en), else the
    site's default."""
    code = (language or "").lower()[:2]
    if code in VISITOR_LANGUAGES:
        return code
    default = (settings.LANGUAGE_CODE or "fi")[:2]
    return default if default in VISITOR_LANGUAGES else "en"
