"""Reads from the chat register."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import (
    DateTimeField,
    ExpressionWrapper,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)

from realtime.prepared import Prepared

from . import configuration, hooks
from .models import (
    Conversation,
    Message,
    PageVisit,
    Tag,
    VisitorConnection,
    WrapUpReason,
    hash_token,
)

# Ids are handed out before commit, so a message with a lower id can become visible after one
# with a higher id. Catch-up re-sends this much before the last seen message; clients drop ids
# they already have.
RESUME_OVERLAP = timedelta(seconds=5)


def _token_digest(token: object) -> str | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    return hash_token(token)


def conversation_by_token(token: object) -> Conversation | None:
    digest = _token_digest(token)
    return None if digest is None else _BY_TOKEN_HASH.first(digest)


def _of_token_hash(digest: str) -> QuerySet[Conversation]:
    """The conversation of a visitor's token: its own, or the one the e-mail's one-time link
    handed to another browser (at most one row: both are hashes of random tokens).

    Unordered on purpose: with `ORDER BY id LIMIT 1` (what `.first()` adds) PostgreSQL walked
    the primary key through every conversation instead of the two hash indexes, 19 ms per
    resume with 26,000 chats and growing with the register."""
    return (
        Conversation.objects.select_related("assigned_agent")
        .filter(Q(token_hash=digest) | Q(answer_session_hash=digest))
        .order_by()
    )


def by_token_hash(digest: str) -> QuerySet[Conversation]:
    return _of_token_hash(digest)[:1]


# Every visitor's way back in (a reconnect storm runs it thousands of times): compiled once.
_BY_TOKEN_HASH = Prepared(by_token_hash, str)


@dataclass(frozen=True)
class Returning:
    """A visitor's chat found by their token, with what its newest connection (the fields of
    `VisitorConnection.DEVICE_FIELDS`) and page (url, title) were: None where there is none."""

    conversation: Conversation
    connection: dict[str, Any] | None
    page: tuple[str, str] | None


def _newest(model: type[Model], field: str) -> Subquery:
    rows = model._default_manager.filter(conversation_id=OuterRef("pk")).order_by("-id")
    return Subquery(rows.values(field)[:1])


_NEWEST_CONNECTION = ("id", *VisitorConnection.DEVICE_FIELDS)
_NEWEST_PAGE = ("id", "url", "title")


def _returning_by_token_hash(digest: str) -> QuerySet[Conversation]:
    return _of_token_hash(digest).annotate(
        **{f"newest_connection_{f}": _newest(VisitorConnection, f) for f in _NEWEST_CONNECTION},
        **{f"newest_page_{f}": _newest(PageVisit, f) for f in _NEWEST_PAGE},
    )[:1]


_RETURNING = Prepared(_returning_by_token_hash, str)


def returning_visitor(token: object) -> Returning | None:
    """The chat of a visitor coming back with `token`, read with its newest connection and page
    in the same query: the resume compares them with the visitor's own without reading them
    again (one statement where three ran, and no transaction when nothing changed)."""
    digest = _token_digest(token)
    found = None if digest is None else _RETURNING.first(digest)
    if found is None:
        return None
    values = vars(found)
    connection = page = None
    if values.pop("newest_connection_id") is not None:
        connection = {
            f: values.pop(f"newest_connection_{f}") for f in VisitorConnection.DEVICE_FIELDS
        }
    if values.pop("newest_page_id") is not None:
        page = (values.pop("newest_page_url"), values.pop("newest_page_title"))
    return Returning(found, connection, page)


def chunks_by_id(
    fetch: Callable[[int | None, int], list[Any]],
    *,
    after_id: int | None,
    first: int = 16,
    most: int = 256,
) -> Iterator[Any]:
    """Rows with ids above `after_id`, in id order, read `first` at a time, doubling to `most`.

    `fetch(after_id, limit)` reads one chunk (ordered by id, LIMIT in SQL). A page of long
    messages needs only a few rows; one of short queue items, a few hundred.
    """
    for rows in id_chunks(fetch, after_id=after_id, first=first, most=most):
        yield from rows


def id_chunks(
    fetch: Callable[[int | None, int], list[Any]],
    *,
    after_id: int | None,
    first: int = 16,
    most: int = 256,
) -> Iterator[list[Any]]:
    """`chunks_by_id` a chunk (a list of rows, never empty) at a time."""
    size = first
    while True:
        rows = fetch(after_id, size)
        if rows:
            yield rows
        if len(rows) < size:
            return
        after_id = rows[-1]["id"] if isinstance(rows[-1], dict) else rows[-1].pk
        size = min(most, size * 2)


class PreparedChunks:
    """`chunks_by_id` over `build(*values)` (a queryset, not ordered or sliced), read in id
    order, each chunk's query compiled once per shape (first or later chunk, and its size).

    A console coming back reads its chats, queue, colleagues and canned replies this way: with
    a hundred consoles reconnecting at once, building each chunk's query with the ORM (the
    colleagues' permission rule alone, ~3.6 ms) cost more than all of them took to run.
    """

    def __init__(
        self, build: Callable[..., QuerySet], *kinds: type, first: int = 16, most: int = 256
    ) -> None:
        self.build = build
        self.kinds = kinds
        self.first = first
        self.most = most
        self._shapes: dict[tuple[bool, int], Prepared] = {}

    def __call__(self, *values: Any, after_id: int | None = None) -> Iterator[Any]:
        for rows in self.chunks(*values, after_id=after_id):
            yield from rows

    def chunks(self, *values: Any, after_id: int | None = None) -> Iterator[list[Any]]:
        """The rows a chunk (one query) at a time."""

        def fetch(after: int | None, limit: int) -> list[Any]:
            if after is None:
                return self._query(False, limit).fetch(*values)
            return self._query(True, limit).fetch(*values, after)

        return id_chunks(fetch, after_id=after_id, first=self.first, most=self.most)

    def _query(self, after: bool, limit: int) -> Prepared:
        found = self._shapes.get((after, limit))
        if found is None:
            given = len(self.kinds)

            def chunk(*values: Any) -> QuerySet:
                rows = self.build(*values[:given])
                if after:
                    rows = rows.filter(pk__gt=values[given])
                return rows.order_by("pk")[:limit]

            kinds = (*self.kinds, int) if after else self.kinds
            found = self._shapes.setdefault((after, limit), Prepared(chunk, *kinds))
        return found


def messages_after(
    *,
    conversation_ids: list[int],
    after_id: int | None,
    cursor: int | None = None,
    include_notes: bool = False,
) -> Iterator[Message]:
    """Messages of these conversations the client has not seen, oldest first, read in chunks.

    `after_id` is the last message the client has (a few seconds before it are sent again, see
    RESUME_OVERLAP; every message with a higher id too); `cursor` continues a paged answer to
    the same request after the last message of the previous page. Internal notes only with
    `include_notes` (staff): what a caller forgets to ask for is what the visitor sees.
    """
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        return iter(())
    anchor = [after_id] if after_id else []
    chunks = _messages_chunks(len(ids), include_notes, bool(anchor))
    return chunks(*ids, *anchor, after_id=cursor)


@functools.lru_cache(maxsize=512)
def _messages_chunks(conversations: int, include_notes: bool, anchored: bool) -> PreparedChunks:
    """One shape of `messages_after`'s read, compiled once per chunk (a console resumes with
    many chats at once, each visitor with one)."""

    def build(*values: int) -> QuerySet[Message]:
        qs = Message.objects.filter(conversation_id__in=list(values[:conversations]))
        if not include_notes:
            qs = qs.filter(sender__in=Message.VISIBLE_TO_VISITOR)
        if anchored:
            anchor_id = values[conversations]
            # From a few seconds before the last seen message; an unknown id (erased): after it.
            anchor_at = Subquery(Message.objects.filter(pk=anchor_id).values("created_at")[:1])
            since = ExpressionWrapper(
                anchor_at - Value(RESUME_OVERLAP), output_field=DateTimeField()
            )
            qs = qs.filter(Q(created_at__gte=since) | Q(pk__gt=anchor_id))
        return qs

    return PreparedChunks(build, *[int] * (conversations + anchored))


def wrap_up_choices(language: str | None) -> dict[str, list[dict[str, Any]]]:
    """The active tags and wrap-up reasons, named in `language`, in the director's order."""
    return {
        name: [
            {"id": item.pk, "name": item.name(language)}
            for item in model.objects.filter(active=True)
        ]
        for name, model in (("tags", Tag), ("reasons", WrapUpReason))
    }


def wrap_up_of(conversation: Conversation, language: str | None) -> dict[str, Any]:
    """A chat's wrap-up as staff and exports show it: the reason and tags, named in
    `language`, with their ids."""
    reason = conversation.wrap_up_reason
    return {
        "reason": {"id": reason.pk, "name": reason.name(language)} if reason else None,
        "tags": [{"id": t.pk, "name": t.name(language)} for t in conversation.tags.all()],
    }


def greeting_for(lang: str, config: configuration.Snapshot | None = None) -> dict[str, Any] | None:
    """The panel's greeting in `lang`, with the names of the agents online when the director
    chose to show them; None when none is set."""
    greeting = (config or configuration.current()).greetings.get(lang)
    if greeting is None:
        return None
    agents = hooks.agents_online_names() if greeting.show_agent_names else []
    return {"text": greeting.text, "agents": agents}
