"""A Daphne process lost: nginx (the shipped deploy/nginx/nginx.conf) in front of two Daphne
processes, one of which is killed with SIGKILL (no restart frame, no drain) while three visitors
and an agent chat both ways through nginx with numbered messages. The clients whose socket was on
it reconnect through nginx to the other process, resume and resend; then the process is started
again, as Docker's restart policy would. Nothing may be lost or stored twice; the longest time a
side went without a new message is printed.
"""

from __future__ import annotations

import asyncio

import pytest

from .nginx import behind_nginx, open_chats_behind
from .numbered import run_through

pytestmark = [pytest.mark.services, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with behind_nginx(tmp_path_factory.mktemp("daphne-lost"), env=None) as (stack, nginx):
        yield stack, nginx


async def test_a_killed_daphne_behind_nginx_loses_and_duplicates_nothing(deployment):
    stack, nginx = deployment
    cookie = await asyncio.to_thread(stack.login)
    chat = await open_chats_behind(nginx, cookie, 3)
    sides = [*chat.visitors, chat.agent]

    async def kill_one() -> None:
        before = sum(side.reconnects for side in sides)
        await asyncio.to_thread(stack.kill, 0)

        async def back() -> None:
            while not (
                sum(side.reconnects for side in sides) > before
                and all(side.ready.is_set() for side in sides)
            ):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(back(), 30)
        await asyncio.to_thread(stack.start, 0)

    figures = await run_through(chat, kill_one)
    print(f"a Daphne process killed behind nginx: {figures}")
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["reconnects"] >= 1, "sockets were on the killed process"
    assert figures["restart_frames"] == 0, "a killed process says nothing"
    assert stack.alive()
    texts = [t for side in chat.visitors for t in side.sent] + list(chat.agent.sent)
    stored = (
        stack.count("SELECT count(*) FROM chat_message WHERE text = ANY(%s)", texts),
        stack.count("SELECT count(DISTINCT text) FROM chat_message WHERE text = ANY(%s)", texts),
    )
    assert stored == (len(texts), len(texts)), "each message stored exactly once"
