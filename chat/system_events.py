"""System events in a conversation: stored as a kind and its data, never as a sentence.

An agent joining, a transfer, the end of a chat and an erasure are facts; each viewer (the
visitor's widget, the console, the history, transcripts, exports, reports) tells them in its own
language. The browsers get the same facts (`message.event`) and their own catalogue of words;
this module tells them in Python (gettext, chat/locale/) for everything rendered on the server.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, pgettext

from .bidi import isolate_plain

JOINED = "joined"
TRANSFERRED = "transferred"
ENDED = "ended"
ERASED = "erased"
KINDS = (JOINED, TRANSFERRED, ENDED, ERASED)

#: Who ended or erased a conversation (`by`): the visitor, an agent, the system; an erasure may
#: also come from a data-subject request handled by staff.
BY_VISITOR = "visitor"
BY_AGENT = "agent"
BY_SYSTEM = "system"
BY_REQUEST = "request"

#: What the English product stored before events existed: "<name> joined the chat".
LEGACY_JOINED_SUFFIX = " joined the chat"


def event_of(message: Any) -> dict[str, Any] | None:
    """The event a stored message records (`{"kind": ..., **data}`), or None for a message."""
    kind = getattr(message, "event", "") or ""
    if not kind:
        return None
    return {"kind": kind, **(getattr(message, "event_data", None) or {})}


def describe(event: dict[str, Any]) -> str:
    """The event as one sentence in the active language; names are isolated (FSI … PDI), so a
    right-to-left name cannot reorder the words around it."""
    kind = event.get("kind")
    name = isolate_plain(str(event.get("name") or ""))
    if kind == JOINED:
        return gettext("{name} joined the chat").replace("{name}", name)
    if kind == TRANSFERRED:
        sentence = gettext("{from} transferred the chat to {name}")
        return sentence.replace("{from}", isolate_plain(str(event.get("from") or ""))).replace(
            "{name}", name
        )
    by = event.get("by")
    if kind == ENDED:
        if by == BY_VISITOR:
            return gettext("The visitor ended the chat")
        if by == BY_AGENT and name:
            return gettext("{name} ended the chat").replace("{name}", name)
        return pgettext("chat ended by", "The chat was ended automatically")
    if kind == ERASED:
        if by == BY_VISITOR:
            return gettext("The visitor erased the conversation")
        return gettext("The conversation was erased on request")
    return str(kind or "")
