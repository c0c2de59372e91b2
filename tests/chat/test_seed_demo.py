from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from chat.models import Conversation, Message, VisitorConnection

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    call_command("seed_demo")
    User = get_user_model()
    assert User.objects.filter(username__in=["agent", "agent2", "director"]).count() == 3
    assert set(Group.objects.values_list("name", flat=True)) >= {"Agent", "Service director"}
    director = User.objects.get(username="director")
    assert director.has_perm("chat.handle_data_requests")
    agent = User.objects.get(username="agent")
    assert agent.has_perm("agents.use_console")
    assert not agent.has_perm("chat.handle_data_requests")


def test_seed_demo_creates_backdated_conversations_with_every_kind_of_row():
    call_command("seed_demo", conversations=40, days=200, messages=4)
    assert Conversation.objects.count() == 40
    assert Message.objects.count() == 160
    assert VisitorConnection.objects.count() == 40
    oldest = Conversation.objects.order_by("created_at").first().created_at
    newest = Conversation.objects.order_by("-created_at").first().created_at
    assert (newest - oldest).days > 30
