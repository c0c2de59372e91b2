"""realtime/mailbox.py: the small receive queue of each socket (Daphne's input, a channel's
messages): in order, nothing lost to a cancelled reader, and nothing held while idle."""

from __future__ import annotations

import asyncio

import pytest

from realtime.mailbox import Mailbox

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
