"""Server frames bounded below the socket's maximum, by construction.

A frame that carries a list (history, the agents' queue, an agent's chats with their visitor
panels, colleagues, canned replies) takes items while they fit in the byte budget
`CHAT_MAX_SERVER_FRAME_BYTES`; what does not fit is left for the next page. Such a frame says
`more: true` and names in `next` the frame the client sends to fetch each list's next page
(its cursor is the id of the last item sent). Every single item is far smaller than the budget
(message text, page fields and host context are limited when stored; a visitor panel keeps only
its latest page visits, see `agents.selectors.visitor_panel`), so every page holds at least one
item and following the cursors ends.

Sizes are the UTF-8 bytes of the JSON the consumers send, measured per item and added up,
never by encoding the frame again for each item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

#: Room kept for `more`, `next` (one continuation frame per list, ~120 bytes each) and rounding.
RESERVE = 1024


def encode(frame: Any) -> str:
    """The one encoding of server frames (what `send_json` puts on the socket)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def encoded_size(value: Any) -> int:
    """Bytes `value` takes in a frame."""
    return len(encode(value).encode("utf-8"))


def budget() -> int:
    """Most bytes of any server frame."""
    return settings.CHAT_MAX_SERVER_FRAME_BYTES


def item_budget() -> int:
    """Most bytes of one item of a list, so that any page can hold at least one."""
    return budget() - 4 * RESERVE


class Frame:
    """One server frame being filled: its fixed fields first, then lists while they fit.

    `lists` names the lists the frame will carry; they are counted (empty) with the fixed
    fields, so that each item then costs its own size plus a separating comma.
    """

    def __init__(self, fields: dict[str, Any], *, lists: Iterable[str] = ()) -> None:
        self.fields = dict(fields)
        for name in lists:
            self.fields.setdefault(name, [])
        self.next: dict[str, dict[str, Any]] = {}
        self.remaining = budget() - RESERVE - encoded_size(self.fields)

    def fill(
        self,
        name: str,
        items: Iterable[Any],
        *,
        resume: Callable[[int | None], dict[str, Any]],
        cursor: int | None = None,
        key: Callable[[Any], int] = lambda item: item["id"],
        size: Callable[[Any], int] = encoded_size,
    ) -> list[Any]:
        """Takes items in order while they fit; returns them.

        When one does not fit, the list stops there and `next[name]` becomes `resume(cursor)`:
        the client frame that asks for the items after the last one taken (or after `cursor`,
        the request's own, when none was). Items are pulled lazily, so a selector that reads in
        chunks reads about one page.
        """
        taken: list[Any] = []
        for item in items:
            cost = size(item) + 1
            if cost > self.remaining:
                self.next[name] = resume(cursor)
                break
            self.remaining -= cost
            taken.append(item)
            cursor = key(item)
        return taken

    def put(self, name: str, value: Any) -> None:
        """Sets a list (or map) field filled with `fill`; its size is already counted."""
        self.fields[name] = value

    def build(self) -> dict[str, Any]:
        frame = {**self.fields, "more": bool(self.next)}
        if self.next:
            frame["next"] = self.next
        return frame


def take(items: Iterable[Any], limit: int, size: Callable[[Any], int] = encoded_size) -> list:
    """The first items whose sizes (each plus a comma) add up to at most `limit` bytes."""
    taken = []
    for item in items:
        limit -= size(item) + 1
        if limit < 0:
            break
        taken.append(item)
    return taken
