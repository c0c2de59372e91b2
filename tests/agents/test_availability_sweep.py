from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from agents.services import availability_sweep, presence_set
from chat import events

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stale_agent_turns_offline_and_visitors_are_told(alice, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.VISITORS_GROUP, channel)
    presence_set(user=alice, presence="online")
    assert availability_sweep() is True
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert availability_sweep() is False
    received = []
    while True:
        try:
            received.append(async_to_sync(layer.receive)(channel))
        except Exception:
            break
        if received[-1]["event"].get("agents_online") is False:
            break
    assert {"type": "availability", "agents_online": False} in [m["event"] for m in received]
