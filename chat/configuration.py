"""The director's configuration as visitors' sockets read it: topics, opening hours, greetings.

Every visitor's hello and every new chat read the same few rows (the picker's topics, the
service's opening hours, the greeting in the visitor's language, the default topic): three or
four queries each time, most of a hello's cost. A process reads them all at once and reuses that
read for up to REUSE_SECONDS. A change saved or deleted in this process forgets it at once (and
again when its transaction commits); a change made through another process is seen within the
reuse time, as the answer to "is any agent online" is (`hooks.agents_online_recent`).

What the rest of the product reads (the console, the admin, routing) is read as before.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from .models import Greeting, OpeningHours, Topic

#: How long a process reuses its read of the configuration.
REUSE_SECONDS = 1.0

Hours = list[dict[str, object]]


def _hours_dict(row: OpeningHours) -> dict[str, object]:
    """An opening-hours row as the widget is sent it."""
    return {
        "weekday": row.weekday,
        "opens": row.opens.strftime("%H:%M"),
        "closes": row.closes.strftime("%H:%M"),
    }


@dataclass(frozen=True)
class Snapshot:
    """One read of the configuration; its parts are never changed once read."""

    #: Every topic, in the topics' order.
    topics: tuple[Topic, ...]
    #: Opening hours by topic id; None: the service's general hours.
    hours: dict[int | None, Hours]
    greetings: dict[str, Greeting]
    read_at: float

    def default_topic(self) -> Topic | None:
        return next((t for t in self.topics if t.is_default), None)

    def topic(self, slug: str) -> Topic | None:
        return next((t for t in self.topics if t.slug == slug), None)

    def pickable(self) -> list[Topic]:
        return [t for t in self.topics if t.pickable]

    def hours_of(self, topic_id: int | None) -> Hours:
        """A topic's own opening hours, or the service's general hours when it has none."""
        return self.hours.get(topic_id) or self.hours.get(None, [])


_current: Snapshot | None = None


def _read() -> Snapshot:
    hours: dict[int | None, Hours] = {}
    for row in OpeningHours.objects.all():
        hours.setdefault(row.topic_id, []).append(_hours_dict(row))
    return Snapshot(
        topics=tuple(Topic.objects.all()),
        hours=hours,
        greetings={g.language: g for g in Greeting.objects.all()},
        read_at=time.monotonic(),
    )


def current() -> Snapshot:
    """This process's read of the last REUSE_SECONDS, else a new one (three queries)."""
    global _current
    known = reused()
    if known is not None:
        return known
    _current = snapshot = _read()
    return snapshot


def reused() -> Snapshot | None:
    """This process's read of the last REUSE_SECONDS, or None: no query, so an event loop may
    ask it."""
    snapshot = _current
    if snapshot is not None and time.monotonic() - snapshot.read_at < REUSE_SECONDS:
        return snapshot
    return None


def forget() -> None:
    """The next `current()` reads the configuration again."""
    global _current
    _current = None


def _changed(sender: Any, **kwargs: Any) -> None:
    forget()
    # A read between the change and its commit would see the rows before it.
    transaction.on_commit(forget)


for _model in (Topic, OpeningHours, Greeting):
    post_save.connect(_changed, sender=_model, dispatch_uid=f"configuration-{_model.__name__}")
    post_delete.connect(
        _changed, sender=_model, dispatch_uid=f"configuration-del-{_model.__name__}"
    )

os.register_at_fork(after_in_child=forget)
