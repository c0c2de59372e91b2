"""Commands to Redis sent together: one pipelined round trip at a time per event loop.

What arrives while a round trip is under way waits for it and goes in the next one, so a burst
costs a few round trips instead of one each, and nothing queues behind a lock held for a round
trip per command. A caller awaits the future `add` returns, which is done once its batch has
been answered (or has failed: the subclass logs what was not sent; nothing is raised to the
caller, who has already committed whatever the command announces or counts).
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

B = TypeVar("B")


class RoundTrips(Generic[B]):
    def __init__(self) -> None:
        self.pending: B = self._empty()
        self.done: asyncio.Future | None = None
        self.flushing: asyncio.Task | None = None

    def _empty(self) -> B:
        raise NotImplementedError

    def _add(self, pending: B, item: Any) -> None:
        raise NotImplementedError

    async def _send(self, batch: B) -> None:
        raise NotImplementedError

    def _failed(self, batch: B, exc: Exception) -> None:
        raise NotImplementedError

    def add(self, item: Any) -> asyncio.Future:
        """Queues `item` for the next round trip; the future is done once that has returned."""
        self._add(self.pending, item)
        loop = asyncio.get_running_loop()
        if self.done is None:
            self.done = loop.create_future()
        done = self.done
        if self.flushing is None:
            self.flushing = loop.create_task(self._flush())
        return done

    async def _flush(self) -> None:
        done = None
        try:
            while self.pending:
                batch, self.pending = self.pending, self._empty()
                done, self.done = self.done, None
                try:
                    await self._send(batch)
                except Exception as exc:
                    self._failed(batch, exc)
                # Its waiters may have been cancelled meanwhile (the loop is closing).
                if done is not None and not done.done():
                    done.set_result(None)
        finally:
            self.flushing = None
            # Cancelled (the loop is closing): nobody waits for what cannot be sent.
            for waiting in (done, self.done):
                if waiting is not None and not waiting.done():
                    waiting.set_result(None)
