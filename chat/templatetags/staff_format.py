"""Times on the staff pages: in the reader's language and the service's time zone, inside a
`<time>` element that carries the exact instant for machines."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_noop

register = template.Library()


@register.filter
def when(value) -> str:
    """`<time datetime="ISO">6.12.2026 3.22</time>` (SHORT_DATETIME_FORMAT of the active
    language, local time); "" for no value, so `|default:` can say "never"."""
    if not value:
        return ""
    if isinstance(value, str):  # an ISO 8601 time, as the retention status gives them
        value = datetime.fromisoformat(value)
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>',
        date_filter(value, "c"),
        date_filter(value, "SHORT_DATETIME_FORMAT"),
    )


# The retention status's words (retention.status.retention_status, also /healthz's JSON, which
# stays English for machines); the admin shows them in the reader's language.
RETENTION_WORDS = {
    "ok": gettext_noop("ok"),
    "degraded": gettext_noop("degraded"),
    "no purge due yet": gettext_noop("no purge due yet"),
    "no successful purge in the last hour": gettext_noop("no successful purge in the last hour"),
    "records older than the retention period": gettext_noop(
        "records older than the retention period"
    ),
}


@register.filter
def retention_word(value: str) -> str:
    return gettext(RETENTION_WORDS[value]) if value in RETENTION_WORDS else value
