"""Queue announcements are coalesced per process (chat/waiting.py on `realtime.units.Coalesced`):
a burst of new chats is a bounded number of reads and `queue.changed` events, and the last change
is always announced, so no visitor is left looking at a stale place."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from chat import waiting
from realtime import events, units
from tests.conftest import (
    agent_communicator,
    receive_type,
    until,
    visitor_start,
)

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = {"url": "https://www.example.org/", "title": "Home", "referrer": ""}


class Gate:
    """Holds the announcer's read of the queue (in its database thread) until opened."""

    def __init__(self, read) -> None:
        self.read = read
        self.entered = threading.Event()
        self.open = threading.Event()
        self.reads = 0

    def __call__(self):
        self.reads += 1
        if self.reads == 1:
            self.entered.set()
            assert self.open.wait(30), "the test never opened the gate"
        return self.read()


async def _wait_thread_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 30)


async def _start(ip: str, text: str):
    comm, started = await visitor_start(ip=ip, text=text, page=PAGE)
    return comm, started["conversation"]["id"]


@pytest.mark.asyncio
async def test_a_burst_of_starts_is_two_announcements_and_the_last_holds_every_place(
    agent_online, monkeypatch
):
    gate = Gate(waiting.queue_announcement)
    monkeypatch.setattr(waiting, "queue_announcement", gate)
    console = await database_sync_to_async(agent_communicator)(agent_online)
    assert (await console.connect())[0]
    await console.send_json_to({"type": "hello"})
    await receive_type(console, "welcome")

    first, first_id = await _start("203.0.113.1", "First")
    # The first start's announcement reads at once (the announcer was quiet): held here.
    await _wait_thread_event(gate.entered)
    burst = [await _start(f"203.0.113.{n}", f"Visitor {n}") for n in range(2, 9)]
    visitors = [(first, first_id), *burst]
    gate.open.set()

    ids = [conversation_id for _, conversation_id in visitors]
    announced = [await receive_type(console, "queue.changed", limit=60) for _ in range(2)]
    # The held read began after every start had committed; the seven changes asked about while
    # it was held are one more announcement, not seven.
    for event in announced:
        assert [(item["id"], item["position"]) for item in event["items"]] == [
            (pk, n) for n, pk in enumerate(ids, start=1)
        ]
    assert gate.reads == 2
    # This process's sockets have an event before its publish to the other processes returns.
    announcer = units.coalescer(waiting.QUEUE_ANNOUNCEMENT)
    await until(lambda: announcer.task is None)
    assert announcer.announced == 2
    for place, (comm, _) in enumerate(visitors, start=1):
        frame = await receive_type(comm, "queue.position")
        assert frame["position"] == place
        # The second announcement says the same: nothing more is sent to the visitor.
        assert await comm.receive_nothing(timeout=0.2)
    assert await console.receive_nothing(timeout=0.3)


class FakeQueue:
    """Stands for the database: `read` copies the state when the read begins and, the first
    time, waits for the gate, as a read racing a write would."""

    def __init__(self) -> None:
        self.state = 0
        self.entered = threading.Event()
        self.open = threading.Event()
        self.reads = 0

    def read(self):
        self.reads += 1
        seen = self.state
        if self.reads == 1:
            self.entered.set()
            assert self.open.wait(30)
        return {"type": "queue.changed", "items": [{"id": seen}]}


@pytest.mark.asyncio
async def test_a_change_committed_while_the_queue_is_read_is_announced_after_it(monkeypatch):
    """The trailing edge: the read in flight saw the old state, so one more read follows."""
    queue = FakeQueue()
    published: list[tuple[str, dict]] = []

    async def publish(outbox):
        published.extend(outbox)

    monkeypatch.setattr(waiting, "queue_announcement", queue.read)
    monkeypatch.setattr(events, "publish", publish)
    announcer = units.Coalesced(asyncio.get_running_loop(), waiting.QUEUE_ANNOUNCEMENT)
    queue.state = 1
    announcer.request()
    await _wait_thread_event(queue.entered)
    queue.state = 2  # committed while the first read is under way
    announcer.request()
    announcer.request()  # and another change: still one more read, not two
    queue.open.set()
    while announcer.task is not None:
        await asyncio.sleep(0.01)
    assert queue.reads == 2
    waiting_side = [event for group, event in published if group == waiting.WAITING_GROUP]
    consoles = [event for group, event in published if group == events.AGENTS_GROUP]
    assert [e["items"][0]["id"] for e in waiting_side] == [1, 2]
    assert consoles == waiting_side


@pytest.mark.asyncio
async def test_a_failed_read_is_logged_and_the_next_change_announces_again(monkeypatch, caplog):
    reads: list[int] = []
    published: list[tuple[str, dict]] = []

    def read():
        reads.append(1)
        if len(reads) == 1:
            raise RuntimeError("database went away")
        return {"type": "queue.changed", "items": []}

    async def publish(outbox):
        published.extend(outbox)

    monkeypatch.setattr(waiting, "queue_announcement", read)
    monkeypatch.setattr(events, "publish", publish)
    announcer = units.Coalesced(asyncio.get_running_loop(), waiting.QUEUE_ANNOUNCEMENT)
    announcer.interval = 0
    announcer.request()
    while announcer.task is not None:
        await asyncio.sleep(0.01)
    assert published == [] and "queue announcement failed" in caplog.text
    announcer.request()
    while announcer.task is not None:
        await asyncio.sleep(0.01)
    assert len(reads) == 2 and len(published) == 2


def test_a_change_outside_any_event_loop_is_announced_at_once_after_commit(monkeypatch):
    """Views, tasks and commands have no announcer: their change is announced on commit."""
    sent: list[tuple[str, str]] = []

    def send_now(group, event):
        sent.append((group, event["type"]))

    monkeypatch.setattr(events, "send_now", send_now)
    with transaction.atomic():
        waiting.queue_changed()
        assert sent == []  # nothing before the commit
    assert sent == [
        (events.AGENTS_GROUP, "queue.changed"),
        (waiting.WAITING_GROUP, "queue.changed"),
    ]


def test_a_rolled_back_change_announces_nothing(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(events, "send_now", lambda group, event: sent.append(group))
    with pytest.raises(RuntimeError), transaction.atomic():
        waiting.queue_changed()
        raise RuntimeError("the write failed")
    assert sent == []
    with transaction.atomic():
        pass  # and the next commit has nothing left over to announce
    assert sent == []


def test_each_waiting_socket_finds_its_place_in_an_announcement_indexed_once():
    """Every waiting socket of the process gets the same decoded items: they are indexed once
    per announcement, and a new announcement (another list) is indexed afresh."""
    first = [{"id": n, "position": n, "estimate": None} for n in range(1, 101)]
    assert waiting.announced_item(first, 42) == {"id": 42, "position": 42, "estimate": None}
    index = waiting._indexed
    for conversation_id in range(1, 300):  # 299 sockets, one of them not waiting any more
        item = waiting.announced_item(first, conversation_id)
        expected = conversation_id if conversation_id <= 100 else None
        assert (item["position"] if item else None) == expected
    assert waiting._indexed is index  # one index for every socket
    # The next announcement: the chat ahead was taken, everybody moves up.
    second = [{"id": n, "position": n - 1, "estimate": None} for n in range(2, 101)]
    assert waiting.announced_item(second, 42)["position"] == 41
    assert waiting.announced_item(second, 1) is None
    assert waiting._indexed[0] is second
