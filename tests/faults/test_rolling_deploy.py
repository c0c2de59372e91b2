"""A rolling deploy: nginx (the shipped deploy/nginx/nginx.conf) in front of two Daphne
processes, which are restarted one at a time (SIGTERM, wait for the exit, start again, wait until
healthy) while three visitors and an agent chat both ways through nginx with numbered messages.

Each client behaves like the widget and the console: it reconnects after the delay of the
`restart` frame (or a short jittered one), resumes from the last id it saw and resends what was
not acknowledged. Nothing may be lost or stored twice; the longest time any side went without a
new message from the other is printed.
"""

from __future__ import annotations

import asyncio

import pytest

from .nginx import behind_nginx, open_chats_behind
from .numbered import run_through

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

CONVERSATIONS = 3


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with behind_nginx(
        tmp_path_factory.mktemp("rolling"), env={"CHAT_RESTART_SPREAD_SECONDS": "1"}
    ) as (stack, nginx):
        yield stack, nginx


async def test_a_rolling_restart_behind_nginx_loses_and_duplicates_nothing(deployment):
    stack, nginx = deployment
    cookie = await asyncio.to_thread(stack.login)
    chat = await open_chats_behind(nginx, cookie, CONVERSATIONS)

    async def roll() -> None:
        for index in range(len(stack.processes)):
            await asyncio.to_thread(stack.restart, index)
            await asyncio.sleep(1)

    figures = await run_through(chat, roll)
    print(f"rolling restart of 2 Daphne processes behind nginx: {figures}")
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["restart_frames"] >= 1, "the stopping processes told their sockets"
    assert stack.alive()
    texts = [t for side in chat.visitors for t in side.sent] + list(chat.agent.sent)
    stored = (
        stack.count("SELECT count(*) FROM chat_message WHERE text = ANY(%s)", texts),
        stack.count("SELECT count(DISTINCT text) FROM chat_message WHERE text = ANY(%s)", texts),
    )
    assert stored == (len(texts), len(texts)), "each message stored exactly once"
