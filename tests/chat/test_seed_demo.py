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


def test_the_demo_has_canned_replies_in_every_language_once():
    from agents.models import CannedReply

    call_command("seed_demo")
    call_command("seed_demo")
    by_language = {
        language: set(
            CannedReply.objects.filter(language=language).values_list("shortcut", flat=True)
        )
        for language in ("fi", "sv", "en")
    }
    assert by_language["fi"] == by_language["sv"] == by_language["en"] != set()
    assert CannedReply.objects.count() == 3 * len(by_language["fi"])


def test_the_demo_has_tags_and_wrap_up_reasons_named_in_every_language_once():
    from chat.models import Tag, WrapUpReason

    call_command("seed_demo")
    call_command("seed_demo")
    for model in (Tag, WrapUpReason):
        names = list(model.objects.values_list("name_fi", "name_sv", "name_en"))
        assert len(names) >= 3 and all(all(row) for row in names)
        assert len(names) == len(set(names))


def test_seed_demo_creates_backdated_conversations_with_every_kind_of_row():
    call_command("seed_demo", conversations=40, days=200, messages=4)
    assert Conversation.objects.count() == 40
    assert Message.objects.count() == 160
    assert VisitorConnection.objects.count() == 40
    oldest = Conversation.objects.order_by("created_at").first().created_at
    newest = Conversation.objects.order_by("-created_at").first().created_at
    assert (newest - oldest).days > 30
