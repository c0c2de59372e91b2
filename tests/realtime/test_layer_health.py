"""The channel layer's health, as one process's sockets hear it: `degraded` once when it stops
delivering, once when it is back, and nothing while it is fine."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from realtime import layer_health
from realtime.layer_health import LayerMonitor
from tests.conftest import receive_type, until, visitor_communicator

pytestmark = pytest.mark.asyncio

INTERVAL = 0.05
DOWN = {"type": "degraded", "active": True}
UP = {"type": "degraded", "active": False}


class Socket:
    """Stands in for a consumer: what it was sent."""

    def __init__(self) -> None:
        self.frames: list[dict] = []

    async def send_json(self, frame: dict) -> None:
        self.frames.append(frame)


class Layer(InMemoryChannelLayer):
    """An in-memory layer that can refuse publishes, or swallow them (a lost subscriber)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False
        self.swallow = False
        self.probes = 0

    async def send(self, channel, message):
        if message.get("type") == layer_health.PROBE:
            self.probes += 1
        if self.refuse:
            raise ConnectionError("Redis is down")
        if not self.swallow:
            await super().send(channel, message)


async def probed(layer: Layer, rounds: int = 3) -> None:
    """Waits until the monitor has probed `rounds` more times."""
    target = layer.probes + rounds
    await until(lambda: layer.probes >= target)


async def monitor_with_sockets(layer, count: int = 2) -> tuple[LayerMonitor, list[Socket]]:
    monitor = LayerMonitor(asyncio.get_running_loop(), layer, INTERVAL)
    sockets = [Socket() for _ in range(count)]
    for socket in sockets:
        await monitor.watch(socket)
    return monitor, sockets


async def test_it_tells_every_socket_once_when_publishing_fails_and_once_when_it_is_back():
    layer = Layer()
    monitor, sockets = await monitor_with_sockets(layer)
    await probed(layer)
    assert all(s.frames == [] for s in sockets), "a healthy layer says nothing"
    layer.refuse = True
    for _ in range(5):
        monitor.publish_failed()
    await probed(layer)
    assert all(s.frames == [DOWN] for s in sockets)
    layer.refuse = False
    await until(lambda: all(s.frames == [DOWN, UP] for s in sockets))
    await probed(layer)
    assert all(s.frames == [DOWN, UP] for s in sockets), "one notice per change"


async def test_a_subscriber_that_hears_nothing_is_degraded_until_its_probes_come_back():
    layer = Layer()
    monitor, sockets = await monitor_with_sockets(layer, 1)
    await probed(layer)
    layer.swallow = True  # publishes succeed, but nothing arrives
    await until(lambda: monitor.degraded)
    await probed(layer)
    assert sockets[0].frames == [DOWN]
    layer.swallow = False
    await until(lambda: sockets[0].frames == [DOWN, UP])


async def test_a_late_probe_while_the_process_runs_behind_is_not_a_layer_down(monkeypatch):
    """A restarted process taking back every socket at once runs seconds behind: its probes come
    back late. Reported as the layer down, every socket would be told to catch up, and their
    second hellos would double the load."""
    from realtime import admission

    behind = True
    monkeypatch.setattr(admission, "behind", lambda within: behind)
    layer = Layer()
    monitor, sockets = await monitor_with_sockets(layer, 1)
    layer.swallow = True
    await probed(layer, 6)
    assert not monitor.degraded and sockets[0].frames == []
    # Caught up, and still no probe comes back: that is the layer.
    behind = False
    await until(lambda: monitor.degraded)
    await until(lambda: sockets[0].frames == [DOWN])


async def test_behind_is_whether_the_loop_was_over_the_limit_lately(settings):
    from realtime import admission

    admission.reset()
    try:
        loop = asyncio.get_running_loop()
        assert not admission.behind(1.0)
        mine = admission._admissions.get()
        mine.over_at = loop.time() - 0.5
        assert admission.behind(1.0) and not admission.behind(0.25)
        settings.CHAT_SHED_LAG_MS = 0  # shedding off: never judged behind
        assert not admission.behind(1.0)
    finally:
        admission.reset()


async def test_a_socket_opened_while_degraded_hears_it_at_once_and_only_once():
    layer = Layer()
    monitor, _ = await monitor_with_sockets(layer, 1)
    layer.refuse = True
    monitor.publish_failed()
    late = Socket()
    await monitor.watch(late)
    await probed(layer)
    assert late.frames == [DOWN]
    layer.refuse = False
    await until(lambda: late.frames == [DOWN, UP])


async def test_a_subscriber_back_between_two_probes_makes_the_sockets_catch_up():
    layer = Layer()
    monitor, sockets = await monitor_with_sockets(layer)
    await probed(layer)
    monitor._resubscribed(None)
    await until(lambda: all(s.frames == [UP] for s in sockets))
    await probed(layer)
    assert all(s.frames == [UP] for s in sockets)


async def test_a_process_back_from_an_outage_makes_the_other_processes_sockets_catch_up():
    layer = Layer()
    loop = asyncio.get_running_loop()
    failed, failed_sockets = await monitor_with_sockets(layer, 1)
    other = LayerMonitor(loop, layer, INTERVAL)
    bystander = Socket()
    await other.watch(bystander)
    await probed(layer)
    # Only the first process's publishes fail; the other one's probes keep coming back.
    failed.publish_failed()
    await until(lambda: failed_sockets[0].frames == [DOWN, UP])
    await until(lambda: bystander.frames == [UP])


async def test_a_visitor_socket_is_told_when_the_layer_is_down_and_when_it_is_back(
    monkeypatch, agent_online
):
    layer = Layer()
    monkeypatch.setattr(
        layer_health.monitors, "factory", lambda loop: LayerMonitor(loop, layer, INTERVAL)
    )
    layer_health.monitors.reset()
    comm = visitor_communicator()
    connected, _ = await comm.connect()
    assert connected
    layer.refuse = True
    layer_health.publish_failed()
    assert await receive_type(comm, "degraded") == DOWN
    layer.refuse = False
    assert await receive_type(comm, "degraded") == UP
    await comm.disconnect()
    assert not layer_health.monitors.get().sockets
    layer_health.monitors.reset()
