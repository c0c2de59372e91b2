"""Sockets that crash, flood, send too much or lose their process, against real Daphne
processes sharing one Redis: the address they came from can always connect again."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .stack import Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

LEASE_SECONDS = 10


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(
        tmp_path_factory.mktemp("exits"),
        env={
            "CHAT_CONNECTION_LEASE_SECONDS": str(LEASE_SECONDS),
            "CHAT_MAX_CONNECTIONS_PER_IP": "20",
        },
    ) as running:
        yield running


def _visitor(stack, port: int | None = None):
    port = port or stack.port
    return websockets.connect(
        f"ws://127.0.0.1:{port}/ws/visitor/", origin=f"http://127.0.0.1:{port}", open_timeout=5
    )


async def _close_code(ws) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


async def _can_connect(stack, port: int | None = None) -> bool:
    try:
        async with _visitor(stack, port) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            return json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    except InvalidStatus:
        return False


async def _open_when_free(stack, port: int):
    """A socket, once the address has a free slot: the sockets of the tests before gave theirs
    back after their close reached the client, a moment later."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            return await _visitor(stack, port)
        except InvalidStatus:
            assert asyncio.get_running_loop().time() < deadline, "slots not given back"
            await asyncio.sleep(0.2)


async def test_25_crashing_and_flooding_sockets_leave_their_address_able_to_connect(stack):
    for i in range(25):
        async with await _open_when_free(stack, stack.ports[i % 2]) as ws:
            await ws.send("[" * 30_000 + "]" * 30_000)
            assert json.loads(await ws.recv())["code"] == "bad_json"
            for _ in range(700):
                await ws.send('{"type": "ping"}')
            assert await _close_code(ws) == 4029
    for port in stack.ports:
        assert await _can_connect(stack, port)
    assert stack.alive()


async def test_an_oversize_frame_is_answered_and_closed_and_a_huge_one_only_dropped(stack):
    async with _visitor(stack) as ws:
        await ws.send("x" * (64 * 1024 + 1))
        assert json.loads(await ws.recv())["code"] == "frame_too_large"
        assert await _close_code(ws) == 4009
    async with _visitor(stack) as ws:
        await ws.send("x" * (300 * 1024))
        assert await _close_code(ws) in (1006, 1009)
    assert await _can_connect(stack)
    assert stack.alive()


async def test_a_killed_process_frees_its_sockets_slots_within_the_lease(stack):
    doomed, other = stack.ports
    sockets = [await _open_when_free(stack, doomed) for _ in range(20)]
    assert not await _can_connect(stack, other), "the address has all its slots"
    stack.processes[0].send_signal(signal.SIGKILL)
    stack.processes[0].wait(10)
    killed_at = asyncio.get_running_loop().time()
    # Nobody gave the slots back: they stay taken until their leases run out...
    assert not await _can_connect(stack, other)
    # ...which is within one lease of the process's last renewal.
    while not await _can_connect(stack, other):
        assert asyncio.get_running_loop().time() - killed_at < LEASE_SECONDS + 10
        await asyncio.sleep(0.25)
    for ws in sockets:
        await ws.close()
    stack.restart(0)
