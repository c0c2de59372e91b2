"""Times on the staff pages: in the reader's language and the service's time zone, inside a
`<time>` element that carries the exact instant for machines."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(value) -> str:
    """`<time datetime="ISO">6.12.2026 3.22</time>` (SHORT_DATETIME_FORMAT of the active
    language, local time); "" for no value, so `|default:` can say "never"."""
    if not value:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>',
        date_filter(value, "c"),
        date_filter(value, "SHORT_DATETIME_FORMAT"),
    )
