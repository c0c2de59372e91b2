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
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class Mailbox:
    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: deque[Any] | None = None
        self.waiter: asyncio.Future | None = None

    def qsize(self) -> int:
        return len(self.items) if self.items else 0

    def empty(self) -> bool:
        return not self.items

    def put_nowait(self, item: Any) -> None:
        if self.items is None:
            self.items = deque((item,))
        else:
            self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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
        items = self.items
        item = items.popleft()  # a busy console's backlog: O(1), not a shift of the list
        if not items:
            self.items = None  # back to nothing while idle
        return item
