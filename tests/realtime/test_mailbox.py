"""realtime/mailbox.py: the small receive queue of each socket (Daphne's input, a channel's
messages): in order, nothing lost to a cancelled reader, and nothing held while idle."""

from __future__ import annotations

import asyncio

import pytest

from realtime.mailbox import Mailbox, wait_any

pytestmark = pytest.mark.asyncio


async def test_items_come_out_in_order_and_an_empty_box_holds_no_list():
    box = Mailbox()
    assert box.items is None and box.empty() and box.qsize() == 0
    for n in range(5):
        box.put_nowait(n)
    assert box.qsize() == 5
    assert [await box.get() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert box.items is None and box.empty()


async def test_a_reader_waits_until_an_item_is_put():
    box = Mailbox()
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not reader.done() and box.waiter is not None
    box.put_nowait("hello")
    assert await asyncio.wait_for(reader, 5) == "hello"
    assert box.waiter is None and box.items is None


async def test_a_reader_cancelled_after_it_was_woken_loses_nothing():
    box = Mailbox()
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put_nowait("kept")
    reader.cancel()  # woken, but cancelled before it ran
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert box.waiter is None
    assert await asyncio.wait_for(box.get(), 5) == "kept"


async def test_a_second_reader_at_the_same_time_is_refused():
    box = Mailbox()
    first = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await box.get()
    box.put_nowait(1)
    assert await asyncio.wait_for(first, 5) == 1


async def test_take_returns_the_first_item_without_waiting_and_refuses_an_empty_box():
    box = Mailbox()
    with pytest.raises(IndexError):
        box.take()
    box.put_nowait("a")
    box.put_nowait("b")
    assert box.take() == "a"
    assert box.take() == "b"
    assert box.items is None


async def test_wait_any_returns_at_once_when_a_box_holds_an_item():
    frames, events = Mailbox(), Mailbox()
    events.put_nowait("event")
    await asyncio.wait_for(wait_any(frames, events), 1)
    assert frames.waiter is None and events.waiter is None


async def test_wait_any_wakes_on_whichever_box_gets_an_item_first():
    for first in (0, 1):
        boxes = (Mailbox(), Mailbox())
        waiting = asyncio.create_task(wait_any(*boxes))
        await asyncio.sleep(0)
        assert not waiting.done()
        assert boxes[0].waiter is boxes[1].waiter is not None  # one future for both
        boxes[first].put_nowait("item")
        await asyncio.wait_for(waiting, 5)
        assert boxes[0].waiter is None and boxes[1].waiter is None
        assert boxes[first].take() == "item"


async def test_wait_any_cancelled_leaves_the_boxes_readable_and_keeps_what_came():
    frames, events = Mailbox(), Mailbox()
    waiting = asyncio.create_task(wait_any(frames, events))
    await asyncio.sleep(0)
    frames.put_nowait("kept")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert frames.waiter is None and events.waiter is None
    assert await asyncio.wait_for(frames.get(), 5) == "kept"


async def test_wait_any_refuses_a_box_that_already_has_a_reader():
    frames, events = Mailbox(), Mailbox()
    reader = asyncio.create_task(events.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await wait_any(frames, events)
    events.put_nowait(1)
    assert await asyncio.wait_for(reader, 5) == 1


# Answered where it is put.


async def test_an_item_the_reader_answers_is_replied_to_at_once_and_not_queued():
    box = Mailbox()
    replies: list[str] = []
    box.answer = lambda item: "pong" if item == "ping" else None
    box.reply = replies.append
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put_nowait("ping")
    assert replies == ["pong"] and box.items is None and not reader.done()
    box.put_nowait("message")  # not answered: queued for the reader as usual
    assert await asyncio.wait_for(reader, 5) == "message"
    assert replies == ["pong"]


async def test_an_answerable_item_behind_queued_ones_keeps_its_place():
    box = Mailbox()
    replies: list[str] = []
    box.answer = lambda item: "pong" if item == "ping" else None
    box.reply = replies.append
    box.put_nowait("message")
    box.put_nowait("ping")
    assert replies == [] and [await box.get(), await box.get()] == ["message", "ping"]


async def test_without_a_way_to_reply_nothing_is_answered():
    box = Mailbox()
    asked: list[str] = []
    box.answer = lambda item: asked.append(item) or "pong"
    box.put_nowait("ping")  # no server reply set (the test communicator)
    assert asked == [] and await box.get() == "ping"


async def test_a_served_consumer_that_ended_leaves_no_answer_in_its_box():
    """Daphne's protocol keeps its box until the connection is reaped: an answer left there
    would keep the ended consumer (and a reference cycle) alive as long."""
    from realtime.sockets import JsonFrameConsumer

    class Ending(JsonFrameConsumer):
        async def _serve(self, scope, inbox, send):
            assert inbox.answer is None
            inbox.answer = self.answer_at_once
            raise RuntimeError("the socket's consumer ended")

    box = Mailbox()
    consumer = Ending()
    consumer._release = lambda code: asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await consumer({"type": "websocket"}, box.get, None)
    assert box.answer is None
