"""A receive queue for one socket that costs little while it is empty.

Every open socket has two queues that are empty nearly all the time: Daphne's queue of the
socket's frames for its consumer, and channels-redis's queue of the socket's channel-layer
messages. An `asyncio.Queue` holds three deques and an `Event` (with a fourth) from the start,
about 2.5 KiB; with 10,000 idle sockets that is 50 MiB for nothing. A `Mailbox` is one small
object with a deque made when the first item arrives and dropped when it is empty again. It has
what those two users call (`put_nowait`, `get`, and `qsize`); it is unbounded, as their queues
are.

Like `asyncio.Queue`, an item stays in the box until a `get` returns it: a `get` cancelled
after being woken loses nothing. Unlike it, one `get` waits at a time (each of the two users
has one reader per queue); a second is refused rather than left waiting forever.

`wait_any` waits on several boxes with one future and no task: a socket's consumer reads its
frames and its channel-layer messages that way, where Channels' `await_many_dispatch` made a
task per box for every item and an `asyncio.wait` around them.

An item may be answered where it is put, without waking the reader: the reader sets `answer`
(the item -> the reply's text, or None to queue the item as usual) and the server sets `reply`
(sends that text on the socket at once). A socket's consumer answers its client's `ping` so,
nothing being queued before it: an idle page sends one every 25 s.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class Mailbox:
    __slots__ = ("answer", "items", "reply", "waiter")

    def __init__(self) -> None:
        self.items: deque[Any] | None = None
        self.waiter: asyncio.Future | None = None
        self.answer: Callable[[Any], str | None] | None = None
        self.reply: Callable[[str], None] | None = None

    def qsize(self) -> int:
        return len(self.items) if self.items else 0

    def empty(self) -> bool:
        return not self.items

    def put_nowait(self, item: Any) -> None:
        if self.answer is not None and self.reply is not None and not self.items:
            text = self.answer(item)
            if text is not None:
                self.reply(text)
                return
        if self.items is None:
            self.items = deque((item,))
        else:
            self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> Any:
        """The first item, without waiting (IndexError when empty)."""
        items = self.items
        if not items:
            raise IndexError("the mailbox is empty")
        item = items.popleft()  # a busy console's backlog: O(1), not a shift of the list
        if not items:
            self.items = None  # back to nothing while idle
        return item

    async def get(self) -> Any:
        while not self.items:
            if self.waiter is not None:
                raise RuntimeError("a Mailbox has one reader at a time")
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self.waiter is waiter:
                    self.waiter = None
        return self.take()


async def wait_any(*boxes: Mailbox) -> None:
    """Returns once one of `boxes` holds an item (at once if one does). The boxes' reader."""
    if any(box.items for box in boxes):
        return
    if any(box.waiter is not None for box in boxes):
        raise RuntimeError("a Mailbox has one reader at a time")
    waiter = asyncio.get_running_loop().create_future()
    for box in boxes:
        box.waiter = waiter
    try:
        await waiter
    finally:
        for box in boxes:
            if box.waiter is waiter:
                box.waiter = None
