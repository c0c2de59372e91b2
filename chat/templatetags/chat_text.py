"""Template filters for user text shown next to the product's own (see chat/bidi.py)."""

from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

from chat import identifiers, system_events
from chat.bidi import visible_controls_html
from chat.services import display_name

register = template.Library()


@register.filter
def visible_controls(text: str) -> SafeString:
    """Escaped text with each bidi control shown as a visible marker (staff views only).

    A number the identifier guard hid shows as its marked placeholder in the viewer's language.
    """
    return _with_placeholders(str(text or ""), visible_controls_html)


@register.filter
def placeholders(text: str) -> SafeString:
    """Escaped text in which each hidden identifier shows as its marked placeholder."""
    return _with_placeholders(str(text or ""), escape)


def _with_placeholders(text: str, piece_html) -> SafeString:
    html = SafeString()
    for piece, kind in identifiers.split(text):
        if kind is None:
            html += piece_html(piece)
        else:
            html += format_html(
                '<span class="id-mask" title="{}">{}</span>', identifiers.hidden_label(), piece
            )
    return html


@register.filter
def agent_name(user) -> str:
    """The name visitors saw for `user` (services.display_name), or "" without an account."""
    return display_name(user) if user is not None else ""


@register.filter
def list_name(item) -> str:
    """An item of the director's lists (a tag, a wrap-up reason) in the active language."""
    return item.name(translation.get_language()) if item is not None else ""


@register.filter
def message_text(message) -> str:
    """A message's text; a system event told in the active language (chat/system_events.py)."""
    event = system_events.event_of(message)
    return system_events.describe(event) if event else message.text
