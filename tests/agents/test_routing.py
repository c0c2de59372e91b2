"""Routing by topic and capacity (agents/dispatch.py): who gets the offer, ties, timeouts."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from agents import dispatch
from agents.models import AgentProfile
from agents.roles import AGENT
from chat import topics
from chat.models import Conversation, Topic
from chat.services import ChatError, conversation_start, visitor_info
from tests.conftest import _user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def offer_mode(settings):
    settings.CHAT_ROUTING = "offer"
    settings.CHAT_OFFER_TIMEOUT_SECONDS = 30


def _agent(
    name: str,
    *,
    capacity: int = 3,
    last_chat_minutes_ago: int | None = None,
    presence: str = "online",
):
    user = _user(name, first=name.title(), group=AGENT)
    AgentProfile.objects.create(
        user=user,
        presence=presence,
        capacity=capacity,
        last_chat_at=(
            timezone.now() - timedelta(minutes=last_chat_minutes_ago)
            if last_chat_minutes_ago is not None
            else None
        ),
    )
    return user


def _chat(topic: str | None = None) -> Conversation:
    info = visitor_info(ip_address="192.0.2.1", user_agent="", language="fi", screen="")
    conversation, _, _ = conversation_start(info=info, page=None, context=None, topic=topic)
    return conversation


def _active(agent, n: int) -> None:
    for _ in range(n):
        Conversation.objects.filter(pk=_chat().pk).update(
            status=Conversation.Status.ACTIVE, assigned_agent=agent
        )


def _route(conversation) -> int | None:
    return dispatch.conversation_route(conversation_id=conversation.pk)


def test_it_offers_to_the_agent_with_the_most_free_capacity(roles):
    alice, bob = _agent("alice"), _agent("bob")
    _active(alice, 2)
    _active(bob, 1)
    chat = _chat()
    assert _route(chat) == bob.pk
    chat.refresh_from_db()
    assert chat.offered_to_id == bob.pk and chat.offered_at is not None
    assert chat.status == Conversation.Status.WAITING


def test_the_queue_item_says_when_the_offer_passes_on(roles, settings):
    from chat.serializers import queue_item_dict

    settings.CHAT_OFFER_TIMEOUT_SECONDS = 45
    _agent("alice")
    chat = _chat()
    assert queue_item_dict(chat, "Hi", None)["offer_expires_at"] is None
    _route(chat)
    chat.refresh_from_db()
    expires = queue_item_dict(chat, "Hi", None)["offer_expires_at"]
    assert datetime.fromisoformat(expires) == chat.offered_at + timedelta(seconds=45)


def test_free_capacity_counts_each_agents_own_capacity(roles):
    alice, bob = _agent("alice", capacity=5), _agent("bob", capacity=3)
    _active(alice, 2)  # 3 free
    _active(bob, 1)  # 2 free
    assert _route(_chat()) == alice.pk


def test_a_pending_offer_counts_as_load(roles):
    alice, bob = _agent("alice", capacity=1), _agent("bob", capacity=1)
    first, second, third = _chat(), _chat(), _chat()
    offered = {_route(first), _route(second)}
    assert offered == {alice.pk, bob.pk}
    assert _route(third) is None
    third.refresh_from_db()
    assert third.offered_to_id is None and third.status == Conversation.Status.WAITING


def test_a_tie_goes_to_the_agent_longest_since_their_last_chat(roles):
    _agent("alice", last_chat_minutes_ago=5)
    bob = _agent("bob", last_chat_minutes_ago=50)
    _agent("carol", last_chat_minutes_ago=20)
    assert _route(_chat()) == bob.pk


def test_a_tie_goes_first_to_an_agent_who_has_had_no_chat_yet(roles):
    _agent("alice", last_chat_minutes_ago=500)
    bob = _agent("bob")
    assert _route(_chat()) == bob.pk


def test_a_full_tie_goes_to_the_older_account(roles):
    alice = _agent("alice", last_chat_minutes_ago=None)
    _agent("bob", last_chat_minutes_ago=None)
    assert _route(_chat()) == alice.pk


def test_an_offer_moves_the_agents_last_chat_time_so_the_next_tie_goes_to_the_other(roles):
    alice, bob = _agent("alice"), _agent("bob")
    assert _route(_chat()) == alice.pk
    # alice: 2 free, just had one; bob: 3 free.
    assert _route(_chat()) == bob.pk
    # Both 2 free; alice's offer is older.
    assert _route(_chat()) == alice.pk


def test_away_offline_and_stale_agents_get_no_offer(roles):
    _agent("alice", presence="away")
    _agent("bob", presence="offline")
    carol = _agent("carol")
    AgentProfile.objects.filter(user=carol).update(
        presence_seen_at=timezone.now() - timedelta(minutes=10)
    )
    assert _route(_chat()) is None


def test_only_the_topics_agents_get_its_chats(roles):
    alice, bob = _agent("alice"), _agent("bob")
    payments = Topic.objects.create(
        slug="payments", name_fi="Maksut", name_sv="Betalningar", name_en="Payments"
    )
    payments.agents.add(bob)
    _active(bob, 2)
    assert _route(_chat("payments")) == bob.pk
    # The default topic lists nobody: every agent serves it.
    assert _route(_chat()) == alice.pk


def test_nothing_is_offered_in_queue_mode(roles, settings):
    settings.CHAT_ROUTING = "queue"
    _agent("alice")
    assert _route(_chat()) is None


def test_an_offer_that_times_out_passes_on_to_the_next_agent(roles):
    alice = _agent("alice", last_chat_minutes_ago=60)
    bob = _agent("bob", last_chat_minutes_ago=30)
    chat = _chat()
    assert _route(chat) == alice.pk
    # Not yet: nothing passes.
    assert dispatch.offers_expire(now=timezone.now() + timedelta(seconds=10)) == 0
    assert dispatch.offers_expire(now=timezone.now() + timedelta(seconds=31)) == 1
    chat.refresh_from_db()
    assert chat.offered_to_id == bob.pk
    assert chat.offers_passed == [alice.pk]
    # Bob lets it pass too: everyone has, so the round starts again with alice.
    assert dispatch.offers_expire(now=timezone.now() + timedelta(seconds=62)) == 1
    chat.refresh_from_db()
    assert chat.offered_to_id == alice.pk


def test_a_declined_offer_passes_on_at_once(roles):
    alice, bob = _agent("alice"), _agent("bob")
    chat = _chat()
    assert _route(chat) == alice.pk
    assert dispatch.offer_decline(conversation_id=chat.pk, agent=bob) is False
    assert dispatch.offer_decline(conversation_id=chat.pk, agent=alice) is True
    chat.refresh_from_db()
    assert chat.offered_to_id == bob.pk


def test_accepting_an_offer_takes_the_chat_and_clears_the_offer(roles):
    alice = _agent("alice")
    chat = _chat()
    _route(chat)
    dispatch.conversation_take(conversation_id=chat.pk, agent=alice)
    chat.refresh_from_db()
    assert chat.status == Conversation.Status.ACTIVE and chat.assigned_agent_id == alice.pk
    assert chat.offered_to_id is None and chat.offers_passed is None


def test_an_agent_at_capacity_cannot_take_another_chat_by_hand(roles):
    alice = _agent("alice", capacity=1)
    _active(alice, 1)
    chat = _chat()
    with pytest.raises(ChatError) as error:
        dispatch.conversation_take(conversation_id=chat.pk, agent=alice)
    assert error.value.code == "at_capacity"
    chat.refresh_from_db()
    assert chat.status == Conversation.Status.WAITING and chat.assigned_agent_id is None


def test_an_agent_going_away_hands_their_offers_on(roles):
    alice, bob = _agent("alice"), _agent("bob")
    chat = _chat()
    assert _route(chat) == alice.pk
    AgentProfile.objects.filter(user=alice).update(presence="away")
    assert dispatch.agent_unavailable(user_id=alice.pk) == 1
    chat.refresh_from_db()
    assert chat.offered_to_id == bob.pk


def test_the_sweep_offers_waiting_chats_when_someone_has_room(roles):
    alice = _agent("alice", capacity=1)
    _active(alice, 1)
    chat = _chat()
    assert dispatch.offer_sweep() == {"passed": 0, "offered": 0}
    Conversation.objects.filter(assigned_agent=alice).update(status=Conversation.Status.CLOSED)
    assert dispatch.offer_sweep() == {"passed": 0, "offered": 1}
    chat.refresh_from_db()
    assert chat.offered_to_id == alice.pk


# --- topics ---------------------------------------------------------------------------------


def test_a_chat_without_a_topic_goes_to_the_default_topic(roles):
    assert _chat().topic == Topic.objects.get(is_default=True)


def test_a_chat_names_its_topic_by_slug(roles):
    courses = Topic.objects.create(
        slug="courses", name_fi="Kurssit", name_sv="Kurser", name_en="Courses"
    )
    assert _chat("courses").topic == courses


def test_an_unknown_topic_goes_to_the_default_and_is_logged_once(roles, caplog):
    topics._logged.clear()
    with caplog.at_level(logging.WARNING, logger="chat.topics"):
        first, second = _chat("no-such-topic"), _chat("no-such-topic")
        malformed = _chat("<script>")
    default = Topic.objects.get(is_default=True)
    assert first.topic == second.topic == malformed.topic == default
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.topics"]
    assert len([line for line in lines if "no-such-topic" in line]) == 1
    assert any("not a topic slug" in line for line in lines)
    assert not any("<script>" in line for line in lines)


def test_the_picker_lists_topics_only_when_two_are_pickable(roles):
    Topic.objects.create(
        slug="courses", name_fi="Kurssit", name_sv="Kurser", name_en="Courses", pickable=True
    )
    assert topics.topic_choices("fi") == []
    Topic.objects.create(
        slug="payments",
        name_fi="Maksut",
        name_sv="Betalningar",
        name_en="Payments",
        pickable=True,
        position=1,
    )
    assert topics.topic_choices("sv") == [
        {"slug": "courses", "name": "Kurser"},
        {"slug": "payments", "name": "Betalningar"},
    ]


def test_a_topic_with_its_own_hours_shows_them_others_the_general_hours(roles):
    from datetime import time

    from chat.models import OpeningHours

    courses = Topic.objects.create(slug="courses", name_fi="K", name_sv="K", name_en="K")
    OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(16))
    OpeningHours.objects.create(topic=courses, weekday=1, opens=time(12), closes=time(14))
    assert topics.topic_opening_hours(courses) == [
        {"weekday": 1, "opens": "12:00", "closes": "14:00"}
    ]
    general = topics.topic_opening_hours(topics.topic_default())
    assert general == [{"weekday": 0, "opens": "09:00", "closes": "16:00"}]


# --- the register: topic and routing columns in exports, gone with erasure and the purge -----


def _offered_chat(settings) -> Conversation:
    alice = _agent("alice")
    Topic.objects.create(
        slug="payments", name_fi="Maksut", name_sv="Betalningar", name_en="Payments"
    )
    chat = _chat("payments")
    Conversation.objects.filter(pk=chat.pk).update(language="en")
    assert _route(chat) == alice.pk
    chat.refresh_from_db()
    return chat


def test_the_exports_hold_the_topic_and_the_offer(roles, settings, dana):
    from dsr.data_requests import visitor_data_export

    chat = _offered_chat(settings)
    export = visitor_data_export(conversation=chat, request_id="DSR-1", fmt="json", actor=dana)
    data = json.loads(export.content)["conversation"]
    assert data["topic"] == "Payments"
    assert data["offered_to_agent"] == "Alice"
    assert datetime.fromisoformat(data["offered_at"]) == chat.offered_at
    text = visitor_data_export(conversation=chat, request_id="DSR-1", fmt="text", actor=dana)
    assert "Topic: Payments" in text.content
    assert "Offered to: Alice" in text.content


def test_an_erasure_and_the_purge_take_the_topic_and_offer_with_the_chat(roles, settings, dana):
    from dsr.data_requests import visitor_data_erase
    from retention.purge import purge_expired

    chat = _offered_chat(settings)
    visitor_data_erase(conversation=chat, request_id="DSR-2", actor=dana)
    assert not Conversation.objects.filter(pk=chat.pk).exists()
    # The topic is configuration and stays.
    assert Topic.objects.filter(slug="payments").exists()

    old = _chat("payments")
    long_ago = timezone.now() - timedelta(days=200)
    Conversation.objects.filter(pk=old.pk).update(
        offered_to=AgentProfile.objects.get(user__username="alice").user,
        offered_at=long_ago,
        offers_passed=[1],
        created_at=long_ago,
        last_activity_at=long_ago,
    )
    Conversation.objects.get(pk=old.pk).connections.update(created_at=long_ago)
    purge_expired()
    assert not Conversation.objects.filter(pk=old.pk).exists()


def test_the_director_keeps_topics_and_capacities_in_admin(roles, dana):
    from django.test import Client

    alice = _agent("alice")
    client = Client()
    client.force_login(dana)
    response = client.post(
        "/admin/chat/topic/add/",
        {
            "slug": "courses",
            "name_fi": "Kurssit",
            "name_sv": "Kurser",
            "name_en": "Courses",
            "agents": [alice.pk],
            "pickable": "on",
            "position": "1",
            "opening_hours-TOTAL_FORMS": "1",
            "opening_hours-INITIAL_FORMS": "0",
            "opening_hours-0-weekday": "2",
            "opening_hours-0-opens": "10:00",
            "opening_hours-0-closes": "12:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    courses = Topic.objects.get(slug="courses")
    assert list(courses.agents.all()) == [alice]
    assert courses.opening_hours.get().weekday == 2
    profile = AgentProfile.objects.get(user=alice)
    page = client.get(f"/admin/agents/agentprofile/{profile.pk}/change/")
    assert page.status_code == 200
    response = client.post(f"/admin/agents/agentprofile/{profile.pk}/change/", {"capacity": "5"})
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.capacity == 5
    # The default topic cannot be deleted: unknown topics go there.
    default = Topic.objects.get(is_default=True)
    assert client.get(f"/admin/chat/topic/{default.pk}/delete/").status_code == 403


def test_an_agent_who_let_it_pass_gets_it_again_when_nobody_else_has_room(roles):
    alice = _agent("alice", last_chat_minutes_ago=60)
    bob = _agent("bob", capacity=1, last_chat_minutes_ago=30)
    chat = _chat()
    assert _route(chat) == alice.pk
    _active(bob, 1)  # bob is full
    assert dispatch.offer_decline(conversation_id=chat.pk, agent=alice) is True
    chat.refresh_from_db()
    assert chat.offered_to_id == alice.pk and not chat.offers_passed
