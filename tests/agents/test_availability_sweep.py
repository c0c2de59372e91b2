from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from agents.services import availability_sweep, presence_set
from realtime import events

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stale_agent_turns_offline_and_visitors_are_told(alice):
    layer = get_channel_layer()

    async def listen_while(action):
        channel = await layer.new_channel()
        await layer.group_add(events.VISITORS_GROUP, channel)
        await asyncio.get_running_loop().run_in_executor(None, action)
        received = []
        while True:
            try:
                received.append((await asyncio.wait_for(layer.receive(channel), 1))["event"])
            except TimeoutError:
                return received

    presence_set(user=alice, presence="online")
    assert availability_sweep() is True

    def later():
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):
            assert availability_sweep() is False

    received = async_to_sync(listen_while)(later)
    assert {"type": "availability", "agents_online": False} in received
