"""Template filters for user text shown next to the product's own (see chat/bidi.py)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from chat import system_events
from chat.bidi import visible_controls_html
from chat.services import display_name

register = template.Library()


@register.filter
def visible_controls(text: str) -> SafeString:
    """Escaped text with each bidi control shown as a visible marker (staff views only)."""
    return visible_controls_html(str(text or ""))


@register.filter
def agent_name(user) -> str:
    """The name visitors saw for `user` (services.display_name), or "" without an account."""
    return display_name(user) if user is not None else ""


@register.filter
def message_text(message) -> str:
    """A message's text; a system event told in the active language (chat/system_events.py)."""
    event = system_events.event_of(message)
    return system_events.describe(event) if event else message.text
