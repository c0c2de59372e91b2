"""Load shedding: new messages are refused, not queued, while the process stays far behind.

A process that takes in more messages than its CPU can handle queues them (in its sockets, its
event loop, its subscriber connection), and every later message waits behind the whole queue:
after a burst of twice the sustainable rate for 20 s the backlog took 20-30 s to deliver, and
messages sent meanwhile waited as long. Instead, while the process has stayed more than
CHAT_SHED_LAG_MS behind for SUSTAIN seconds, a growing share of `message.send` and
`conversation.start` frames is answered with the retryable `overloaded` error (nothing stored)
and the client resends after `retry_after_ms`. Everything already taken in is still stored and
delivered; pings, typing, syncs, presence and the console's other frames go on as usual.

How far behind is measured two ways, and either counts:
- the event loop: a timer due every TICK seconds fires late by as long as the loop was busy;
- the way of the process's own events: each event published here carries the loop time it
  was published (realtime/events.py). Its round trip to Redis (for the other processes) times the
  publish queue and Redis; the message reaching the socket that sent it (which follows its
  chat, so every stored message does; in this process it is delivered at once, not through
  Redis) times the sockets' queues. At saturation that is where the queue grows while the loop
  itself runs on time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from django.conf import settings

from .loops import PerLoop

logger = logging.getLogger(__name__)

TICK = 0.05
#: How long the process must stay behind before messages are refused: one slow moment (a
#: checkpoint, a full collection) is not an overload.
SUSTAIN = 0.5
#: How much the share of refused messages grows per tick: from none to all in one second.
STEP = 0.05


class Admission:
    """This event loop's measurements, and the share of new messages it refuses.

    Every tick looks at the loop's lag and the longest way back of the events that returned
    since the last tick. Over the limit for SUSTAIN seconds, the refused share grows by STEP per
    tick; under half the limit it halves (in between it holds), so that a process that has
    caught up takes everything again within a few ticks. A share, not all or nothing: the
    messages still taken in keep the measurement current, and the share settles where the
    process keeps up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.share = 0.0
        self.above_since: float | None = None
        self.echo_max = 0.0
        self.refused = 0
        self.refused_before = 0
        self.deferred = 0  # new sockets told to come back later
        self.deferred_before = 0
        #: Loop time of the last tick that found the process over the limit.
        self.over_at: float | None = None
        self.due = loop.time() + TICK
        self.handle: asyncio.TimerHandle | None = loop.call_at(self.due, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        delay = max(now - self.due, self.echo_max)
        self.echo_max = 0.0
        limit = settings.CHAT_SHED_LAG_MS / 1000
        shedding = self.share > 0
        if delay > limit:
            self.over_at = now
            if self.above_since is None:
                self.above_since = now
            if now - self.above_since >= SUSTAIN:
                self.share = min(1.0, self.share + STEP)
        elif delay < limit / 2:
            self.above_since = None
            self.share = self.share / 2 if self.share > STEP else 0.0
        if self.share > 0 and not shedding:
            self.refused_before = self.refused
            self.deferred_before = self.deferred
            logger.warning(
                "overloaded: %d ms behind for %.1f s; refusing a share of new messages",
                delay * 1000,
                now - (self.above_since or now),
            )
        elif shedding and self.share == 0:
            logger.warning(
                "caught up: %d new message(s) refused and %d new socket(s) told to come back "
                "later while overloaded",
                self.refused - self.refused_before,
                self.deferred - self.deferred_before,
            )
        self.due = now + TICK
        self.handle = self.loop.call_at(self.due, self._tick)

    def delivered(self, published_at: float) -> None:
        delay = self.loop.time() - published_at
        if delay > self.echo_max:
            self.echo_max = delay

    def overloaded(self) -> bool:
        return self.share > 0 and random.random() < self.share

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


_admissions: PerLoop[Admission] = PerLoop(Admission, Admission.close)


def enabled() -> bool:
    return settings.CHAT_SHED_LAG_MS > 0


def delivered(message: dict[str, Any]) -> None:
    """Times this process's own message, at the socket that sent it."""
    published_at = message.get("published_at")
    if published_at is not None:
        published(published_at)


def published(published_at: float) -> None:
    """Times an event of this process (published at loop time `published_at`) on its way."""
    if enabled():
        _admissions.get().delivered(published_at)


def behind(within: float) -> bool:
    """Whether this event loop has been over the limit in the last `within` seconds: a reply it
    waited for that long may have arrived and waited its turn (False when shedding is off)."""
    if not enabled():
        return False
    admission = _admissions.get()
    return admission.over_at is not None and admission.loop.time() - admission.over_at < within


def _shedding() -> Admission | None:
    """This loop's admission when the current new frame or socket falls in the refused share."""
    if not enabled():
        return None
    admission = _admissions.get()
    return admission if admission.overloaded() else None


def _spread(period_ms: float) -> int:
    """Milliseconds within one to two periods, so that the turned away do not all come back
    together."""
    return int(period_ms * random.uniform(1.0, 2.0))


def refuse() -> int | None:
    """None to go ahead; otherwise the milliseconds after which the client should resend."""
    admission = _shedding()
    if admission is None:
        return None
    admission.refused += 1
    return _spread(settings.CHAT_SHED_RETRY_MS)


def defer_socket() -> int | None:
    """None to take a new socket now; otherwise the milliseconds after which it should come
    back. While the process sheds, the same share of new sockets (of the kinds that may wait:
    visitors') is told to come back later instead of being taken in: a process that every
    socket of a restarted neighbour reaches at once spreads them out rather than running so far
    behind that their handshakes time out.

    How much later follows how far behind: one to two times CHAT_SHED_RETRY_MS plus the shed
    share of CHAT_RESTART_SPREAD_SECONDS. A process that has just begun to shed turns a few
    away for a second or two; one that turns every socket away, for up to two spreads. With
    two spreads for all, the few sockets a storm's busiest moment turned away came back when the
    rest had long resumed (the last 1 % of a 5,100-socket storm, 6 s after the others)."""
    admission = _shedding()
    if admission is None:
        return None
    admission.deferred += 1
    wait_ms = settings.CHAT_SHED_RETRY_MS
    wait_ms += admission.share * settings.CHAT_RESTART_SPREAD_SECONDS * 1000
    return _spread(wait_ms)


def reset() -> None:
    _admissions.reset()
