"""Daphne's connection bookkeeping, done when something happens instead of by walking every
connection.

Daphne keeps one entry per open connection (`Server.connections`) and walked all of them every
second to reap finished applications (`application_checker`) and every two seconds to enforce
timeouts and send protocol pings (`timeout_checker`). With 10,000 idle sockets open those two
walks took a fifth of the process's idle CPU, though almost nothing was ever due. Here:

- an application is looked at when it finishes (a done callback) or when its connection closes,
  and after that once a second only while a closed connection's application is still running
  (it is cancelled after `application_close_timeout`, as Daphne does);
- a connection's timeouts are looked at when they can first be due (`TimeoutWheel`): an open
  websocket when it will have been silent for the ping interval (any frame moves that later;
  the socket is then filed again for its new time) or reaches its maximum age, anything else
  (handshakes, HTTP requests) every two seconds, as Daphne does.

The rules are still Daphne's own: the protocol's `check_timeouts`, the close timeout, and the
logging of an application's exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import logging
import math
import time
from typing import Any

#: Daphne's own logger, so that its configuration (and its messages' wording) stays as it was.
logger = logging.getLogger("daphne.server")

#: How often the due timeouts are looked at, and how often a connection that is neither an open
#: websocket nor waiting for one is checked (Daphne checked every connection every 2 s).
TICK_SECONDS = 1.0
OTHER_EVERY_SECONDS = 2.0


def _reactor() -> Any:
    """The running reactor (Twisted's stubs type the module, not it)."""
    from twisted.internet import reactor

    return reactor


class TimeoutWheel:
    """Items filed by the tick at which they are next due; `due` hands over those whose tick has
    come. Each item is in one slot at a time, and can be taken out at once (a closed socket)."""

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self.tick = tick
        self.slots: dict[int, dict[Any, None]] = {}
        self.slot_of: dict[Any, int] = {}
        self.ticks: list[int] = []  # a heap of the slots' ticks

    def __len__(self) -> int:
        return len(self.slot_of)

    def add(self, item: Any, at: float) -> None:
        """Files `item` to be due at `at` (a time.time()); a filed item is moved."""
        self.discard(item)
        tick = math.ceil(at / self.tick)
        slot = self.slots.get(tick)
        if slot is None:
            slot = self.slots[tick] = {}
            heapq.heappush(self.ticks, tick)
        slot[item] = None
        self.slot_of[item] = tick

    def discard(self, item: Any) -> None:
        tick = self.slot_of.pop(item, None)
        if tick is not None:
            self.slots[tick].pop(item, None)

    def due(self, now: float) -> list[Any]:
        """The items due at `now`, oldest tick first, taken out of the wheel."""
        current = math.floor(now / self.tick)
        items: list[Any] = []
        while self.ticks and self.ticks[0] <= current:
            slot = self.slots.pop(heapq.heappop(self.ticks))
            for item in slot:
                del self.slot_of[item]
            items.extend(slot)
        return items


class EventBookkeeping:
    """Mixed into Daphne's `Server` (before it): its two checkers, by event (module docstring).

    Daphne's `run` schedules `application_checker` after 1 s and `timeout_checker` after 2 s;
    both then reschedule themselves, as Daphne's do.
    """

    connections: dict[Any, dict[str, Any]]
    application_close_timeout: float
    ping_interval: float
    websocket_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attention: set[Any] = set()
        self.wheel = TimeoutWheel()

    # Events.

    def protocol_connected(self, protocol: Any) -> None:
        super().protocol_connected(protocol)  # type: ignore[misc]
        self.wheel.add(protocol, time.time() + OTHER_EVERY_SECONDS)

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)  # type: ignore[misc]
        self.attention.add(protocol)

    def application_started(self, protocol: Any, instance: Any) -> None:
        """Called with each application's future as it is created (`create_application`)."""
        instance.add_done_callback(lambda _future: self.attention.add(protocol))

    # Checkers.

    def application_checker(self) -> None:
        reactor = _reactor()
        pending, self.attention = self.attention, set()
        now = time.time()
        for protocol in pending:
            details = self.connections.get(protocol)
            if details is not None and self._reap(protocol, details, now):
                self.attention.add(protocol)  # closed, its application still running
        reactor.callLater(1, self.application_checker)

    def timeout_checker(self) -> None:
        reactor = _reactor()
        now = time.time()
        for protocol in self.wheel.due(now):
            if protocol not in self.connections:
                continue
            protocol.check_timeouts()
            if protocol in self.connections:
                self.wheel.add(protocol, self.next_check(protocol, now))
        reactor.callLater(TICK_SECONDS, self.timeout_checker)

    def next_check(self, protocol: Any, now: float) -> float:
        """When `protocol`'s timeouts can next be due: for an open websocket, when it will have
        been silent for the ping interval or reaches its maximum age (Daphne's rules in
        `WebSocketProtocol.check_timeouts`); otherwise in two seconds."""
        from daphne.ws_protocol import WebSocketProtocol

        if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN:
            due = protocol.last_ping + self.ping_interval
            if self.websocket_timeout >= 0:
                due = min(due, protocol.socket_opened + self.websocket_timeout)
            return max(due, now)
        return now + OTHER_EVERY_SECONDS

    def _reap(self, protocol: Any, details: dict[str, Any], now: float) -> bool:
        """Daphne's rules for one connection's application (`Server.application_checker`).
        True while the connection is closed and its application still runs."""
        disconnected = details.get("disconnected")
        instance = details.get("application_instance")
        if (
            disconnected
            and now - disconnected > self.application_close_timeout
            and instance is not None
            and not instance.done()
        ):
            logger.warning(
                "Application instance %r for connection %s took too long to shut down and was "
                "killed.",
                instance,
                repr(protocol),
            )
            instance.cancel()
        if instance is not None and instance.done():
            try:
                exception = instance.exception()
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                exception = None
            if isinstance(exception, KeyboardInterrupt):
                self.stop()  # type: ignore[attr-defined]
            elif exception is not None:
                logger.error("Exception inside application: %s", exception, exc_info=exception)
                if not disconnected:
                    protocol.handle_exception(exception)
            del details["application_instance"]
            instance = None
        if instance is None and disconnected:
            del self.connections[protocol]
            self.wheel.discard(protocol)
            return False
        return bool(disconnected)
