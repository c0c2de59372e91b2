"""Topics: what a chat is about, which agents serve it, and its opening hours.

The host page may name a topic (`data-topic`, `HelaoChat.topic`) and the widget may let the
visitor pick one; anything else, also a topic nobody configured, goes to the default topic. A
wrong name on a host page is the operator's mistake, not the visitor's: the chat opens anyway
and the reason is logged once per name and process.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from . import configuration
from .models import Topic

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")
# Names already logged by this process (bounded: a page cannot fill the memory with names).
_logged: set[str] = set()
_LOGGED_MAX = 256


def topic_default(config: configuration.Snapshot | None = None) -> Topic:
    """The default topic; created if the director has removed the mark from every topic.

    `config`: a read of the configuration to use (default: this process's current one)."""
    topic = (config or configuration.current()).default_topic()
    if topic is not None:
        return topic
    topic, _ = Topic.objects.get_or_create(
        slug="general",
        defaults={"name_fi": "Yleinen", "name_sv": "Allmänt", "name_en": "General"},
    )
    Topic.objects.filter(pk=topic.pk).update(is_default=True)
    configuration.forget()
    topic.is_default = True
    return topic


def _log_once(key: str, message: str, *args: Any) -> None:
    if key in _logged or len(_logged) >= _LOGGED_MAX:
        return
    _logged.add(key)
    logger.warning(message, *args)


def topic_resolve(value: Any, config: configuration.Snapshot | None = None) -> Topic:
    """The topic a chat asked for by slug, else the default topic (never an error).

    An unknown or malformed name is logged once per process with the reason; the visitor
    notices nothing. `config` as for `topic_default`.
    """
    config = config or configuration.current()
    if value is None or value == "":
        return topic_default(config)
    if not isinstance(value, str) or not _SLUG.match(value):
        _log_once("\0malformed", "topic is not a topic slug; the chat goes to the default topic")
        return topic_default(config)
    topic = config.topic(value.lower())
    if topic is None:
        _log_once(
            value.lower(),
            "unknown topic %r (no such topic configured); the chat goes to the default topic",
            value.lower(),
        )
        return topic_default(config)
    return topic


def topic_choices(
    language: str, config: configuration.Snapshot | None = None
) -> list[dict[str, str]]:
    """The topics the widget's picker offers, named in `language`; empty (no picker) unless the
    director has listed two or more."""
    topics = (config or configuration.current()).pickable()
    if len(topics) < 2:
        return []
    return [{"slug": t.slug, "name": t.name(language)} for t in topics]


def topic_opening_hours(
    topic: Topic | None, config: configuration.Snapshot | None = None
) -> list[dict[str, object]]:
    """The topic's own opening hours, or the service's general hours when it has none."""
    return (config or configuration.current()).hours_of(topic.pk if topic is not None else None)


def topic_names() -> list[dict[str, Any]]:
    """Every topic with its names (the console's list)."""
    return [
        {
            "id": t.pk,
            "slug": t.slug,
            "names": {"fi": t.name_fi, "sv": t.name_sv, "en": t.name_en},
            "is_default": t.is_default,
        }
        for t in Topic.objects.all()
    ]
