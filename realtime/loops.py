"""One object per running event loop, for state that belongs to a loop (connections, clients).

Daphne runs one loop for the life of the process; the tests run one loop per test, so an object
made for an earlier loop is finished with when a new loop asks. A forked child shares its
parent's sockets: it forgets the objects (closing them would close the parent's connections)
and makes its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(
        self,
        factory: Callable[[asyncio.AbstractEventLoop], T],
        discard: Callable[[T], None] | None = None,
    ) -> None:
        self.factory = factory
        self.discard = discard
        self.items: dict[asyncio.AbstractEventLoop, T] = {}
        os.register_at_fork(after_in_child=self.items.clear)

    def get(self) -> T:
        """The running loop's object, made on first use (earlier loops' objects are dropped)."""
        loop = asyncio.get_running_loop()
        item = self.items.get(loop)
        if item is None:
            self.reset()
            item = self.items[loop] = self.factory(loop)
        return item

    def reset(self) -> None:
        """Drops every object, after `discard` for each."""
        items = list(self.items.values())
        self.items.clear()
        if self.discard is not None:
            for item in items:
                self.discard(item)
