"""Is the channel layer delivering to this process? One monitor per event loop tells every socket
of the process, directly (not through the layer it is talking about).

Events are hints (realtime/events.py): while the layer is down they are lost, and a socket that
stays open would never learn that it should catch up. The monitor notices two ways:

- a publish of this process fails (`events.Publisher` reports it), and
- a probe it publishes to its own channel every CHAT_LAYER_PROBE_SECONDS does not come back
  within as long: the subscriber connection is gone, and with it whatever other processes
  publish, although their publish succeeds. While the process itself runs behind (admission.py:
  a restarted process taking back every socket at once), a late probe says nothing about the
  layer: it is not counted, and the next one is sent. Had the layer been reported down then,
  every socket would have been told to catch up, and their second `hello`s would have doubled
  the load that made the probe late. A subscriber that drops and comes back between two
  probes is heard through realtime/layer_adapter.py.

While the layer is down every socket is sent `{"type": "degraded", "active": true}` once; when
a probe comes back, `{"type": "degraded", "active": false}`, and the clients send `hello` again
on the same socket: the database answers with what they missed, and they drop ids they have.
A process that was degraded also tells every other process's monitor when it is back (it may
have lost publishes that their sockets were waiting for); their sockets get `active: false`
alone, which means the same: catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from . import admission, layer_adapter
from .loops import PerLoop

logger = logging.getLogger(__name__)

#: Every process's monitor listens here for "events were lost" from the others.
HEALTH_GROUP = "layer.health"
PROBE = "layer.probe"
LOST = "layer.lost"


def degraded_frame(active: bool) -> dict[str, Any]:
    return {"type": "degraded", "active": active}


class LayerMonitor:
    """The channel layer's health as seen by one event loop, and that loop's open sockets.

    `interval` None: nothing is probed (a layer that cannot fail, or the monitor turned off).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, layer: Any, interval: float | None):
        self.loop = loop
        self.layer = layer
        self.interval = interval
        #: The accepted sockets of this loop; a socket gone without a disconnect drops out.
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.degraded = False
        self.resubscribed = False
        self.channel: str | None = None
        self.answers: dict[int, asyncio.Future] = {}
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.telling: asyncio.Task | None = None

    async def watch(self, consumer: Any) -> None:
        """Adds a socket just accepted; if the layer is down it is told at once."""
        self.sockets.add(consumer)
        if self.interval and not self.tasks:
            self.tasks.append(self.loop.create_task(self._probe_loop()))
        if self.degraded:
            await consumer.send_json(degraded_frame(True))

    def unwatch(self, consumer: Any) -> None:
        self.sockets.discard(consumer)

    def publish_failed(self) -> None:
        """Events of this process were not published: its sockets are told, and a probe runs
        at once to find out when the layer is back."""
        if self.interval and not self.degraded:
            self._set_degraded()
            self.wake.set()

    def _set_degraded(self) -> None:
        if not self.degraded:
            self.degraded = True
            logger.warning("channel layer degraded; %d socket(s) told", len(self.sockets))
            self._tell(degraded_frame(True))

    async def _recovered(self) -> None:
        was_degraded, self.degraded = self.degraded, False
        if was_degraded:
            logger.warning("channel layer back; %d socket(s) told to catch up", len(self.sockets))
        self._tell(degraded_frame(False))
        if was_degraded:
            # Publishes of this process may have been lost to sockets of other processes.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.interval):
                    await self.layer.group_send(HEALTH_GROUP, {"type": LOST, "from": self.channel})

    def _tell(self, frame: dict[str, Any]) -> None:
        """Sends `frame` to the sockets open now: one task for all of them, after the previous
        notice (a socket never hears "back" before "down")."""
        sockets = list(self.sockets)
        previous = self.telling

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            for consumer in sockets:
                with contextlib.suppress(Exception):
                    # A socket closed meanwhile resumes from the database when it reconnects.
                    await consumer.send_json(frame)

        self.telling = self.loop.create_task(run())

    def _resubscribed(self, connection: Any) -> None:
        """The subscriber connection came back: what was published meanwhile is lost."""
        self.resubscribed = True
        self.wake.set()

    async def _probe_loop(self) -> None:
        n = 0
        while True:
            n += 1
            resubscribed, self.resubscribed = self.resubscribed, False
            if await self._probe(n):
                if self.degraded or resubscribed:
                    await self._recovered()
            elif self.degraded or not admission.behind(2 * (self.interval or 0)):
                self._set_degraded()
            else:
                logger.info("channel layer probe %d late while this process runs behind", n)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.interval)

    async def _probe(self, n: int) -> bool:
        """True once probe `n` has been published and has come back within the interval."""
        try:
            async with asyncio.timeout(self.interval):
                if self.channel is None:
                    await self._listen()
                answer = self.answers[n] = self.loop.create_future()
                await self.layer.send(self.channel, {"type": PROBE, "n": n})
                await answer
            return True
        except Exception as exc:
            logger.info("channel layer probe %d failed: %r", n, exc)
            return False
        finally:
            self.answers.pop(n, None)

    async def _listen(self) -> None:
        channel = await self.layer.new_channel("health.")
        await self.layer.group_add(HEALTH_GROUP, channel)
        self.channel = channel
        self.tasks.append(self.loop.create_task(self._receive(channel)))
        layer_adapter.on_subscriber_reconnect(self.layer, self._resubscribed)

    async def _receive(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except Exception:
                logger.exception("channel layer health: receive failed")
                await asyncio.sleep(self.interval or 1.0)
                continue
            kind = message.get("type")
            if kind == PROBE:
                answer = self.answers.get(message.get("n"))
                if answer is not None and not answer.done():
                    answer.set_result(None)
            elif kind == LOST and message.get("from") != channel and not self.degraded:
                self._tell(degraded_frame(False))


def _monitor(loop: asyncio.AbstractEventLoop) -> LayerMonitor:
    layer = get_channel_layer()
    interval = settings.CHAT_LAYER_PROBE_SECONDS or None
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        interval = None
    return LayerMonitor(loop, layer, interval)


monitors: PerLoop[LayerMonitor] = PerLoop(_monitor)


async def watch(consumer: Any) -> None:
    """Registers an accepted socket for `degraded` notices (see the module docstring)."""
    await monitors.get().watch(consumer)


def unwatch(consumer: Any) -> None:
    monitors.get().unwatch(consumer)


def open_sockets() -> list[Any]:
    """The accepted, not yet closed sockets of this event loop (e.g. to close them all at a
    restart)."""
    return list(monitors.get().sockets)


def publish_failed() -> None:
    """Called on the event loop whose publish failed."""
    monitors.get().publish_failed()
