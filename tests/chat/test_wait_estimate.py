"""The wait estimate at its edges, the opening-hours calendar, the sentence the visitor reads."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation

from chat import opening, wait_estimate, waiting, widget_strings
from chat.models import Conversation, OpeningHours, hash_token, new_visitor_token
from chat.wait_estimate import Basis, estimate

HELSINKI = ZoneInfo("Europe/Helsinki")


def basis(*, agents=1, open_now=True, taken=10, mean=120.0) -> Basis:
    return Basis(
        agents_online=agents, open_now=open_now, taken_last_hour=taken, mean_wait_seconds=mean
    )


# --- the estimate ------------------------------------------------------------------------------


def test_no_data_gives_a_few_minutes_for_the_next_and_a_range_behind():
    thin = basis(taken=0, mean=None)
    assert estimate(1, thin) == {"kind": "few"}
    assert estimate(2, thin) == {"kind": "range", "low": 3, "high": 12}
    assert estimate(3, thin) == {"kind": "range", "low": 4, "high": 18}


def test_too_few_chats_taken_in_the_hour_count_as_no_data():
    assert estimate(2, basis(taken=wait_estimate.MIN_SAMPLES - 1, mean=30.0))["kind"] == "range"
    assert estimate(2, basis(taken=wait_estimate.MIN_SAMPLES, mean=30.0))["kind"] == "minutes"


def test_one_agent_takes_the_queue_one_turn_at_a_time():
    one = basis(agents=1, mean=90.0)
    assert [estimate(n, one) for n in (1, 2, 3)] == [
        {"kind": "minutes", "minutes": 2},
        {"kind": "minutes", "minutes": 3},
        {"kind": "minutes", "minutes": 4},
    ]


def test_many_agents_take_as_many_chats_per_turn():
    many = basis(agents=3, mean=120.0)
    assert {estimate(n, many)["minutes"] for n in (1, 2, 3)} == {2}
    assert estimate(4, many) == {"kind": "minutes", "minutes": 4}
    assert estimate(7, many) == {"kind": "minutes", "minutes": 6}


def test_closed_hours_or_nobody_online_give_no_estimate():
    assert estimate(1, basis(open_now=False)) is None
    assert estimate(1, basis(agents=0)) is None
    assert estimate(0, basis()) is None


def test_a_turn_is_clamped_and_a_long_wait_is_not_a_number():
    assert estimate(1, basis(mean=1.0)) == {"kind": "minutes", "minutes": 1}
    assert estimate(1, basis(mean=10_000.0)) == {"kind": "minutes", "minutes": 15}
    assert estimate(5, basis(mean=10_000.0)) == {"kind": "long"}
    assert estimate(40, basis(taken=0, mean=None)) == {"kind": "long"}
    assert estimate(15, basis(taken=0, mean=None))["high"] == wait_estimate.MAX_MINUTES


# --- opening hours -----------------------------------------------------------------------------

WEEKDAYS_9_TO_16 = [(d, time(9), time(16)) for d in range(5)]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    # 2026-12-07 is a Monday.
    return datetime(2026, 12, 7 + day, hour, minute, tzinfo=HELSINKI)


def test_open_inside_the_hours_and_closed_at_the_edges_and_weekends():
    assert opening.is_open(at(0, 9), WEEKDAYS_9_TO_16)
    assert opening.is_open(at(4, 15, 59), WEEKDAYS_9_TO_16)
    assert not opening.is_open(at(0, 16), WEEKDAYS_9_TO_16)
    assert not opening.is_open(at(0, 8, 59), WEEKDAYS_9_TO_16)
    assert not opening.is_open(at(5, 12), WEEKDAYS_9_TO_16)
    assert opening.is_open(at(5, 3), [])  # no hours set: only agents decide


def test_the_next_opening_is_the_next_start_after_now():
    assert opening.next_opening(at(0, 7), WEEKDAYS_9_TO_16) == at(0, 9)
    assert opening.next_opening(at(0, 10), WEEKDAYS_9_TO_16) == at(1, 9)
    assert opening.next_opening(at(4, 18), WEEKDAYS_9_TO_16) == at(7, 9)  # Friday night
    assert opening.next_opening(at(4, 18), []) is None


# --- the visitor's sentence --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "position", "shape", "text"),
    [
        (
            "en",
            2,
            {"kind": "minutes", "minutes": 3},
            "You are 2nd in the queue. Estimated wait: about 3 minutes.",
        ),
        (
            "en",
            1,
            {"kind": "minutes", "minutes": 1},
            "You are 1st in the queue. Estimated wait: about 1 minute.",
        ),
        (
            "en",
            13,
            {"kind": "long"},
            "You are 13th in the queue. Estimated wait: more than an hour.",
        ),
        ("en", 22, None, "You are 22nd in the queue."),
        (
            "fi",
            2,
            {"kind": "minutes", "minutes": 3},
            "Olet jonossa sijalla 2. Arvioitu odotusaika: noin 3 minuuttia.",
        ),
        (
            "fi",
            1,
            {"kind": "few"},
            "Olet jonossa sijalla 1. Arvioitu odotusaika: muutama minuutti.",
        ),
        (
            "sv",
            3,
            {"kind": "range", "low": 4, "high": 18},
            "Du är nummer 3 i kön. Beräknad väntetid: 4–18 minuter.",
        ),
        (
            "sv",
            1,
            {"kind": "minutes", "minutes": 1},
            "Du är nummer 1 i kön. Beräknad väntetid: cirka 1 minut.",
        ),
    ],
)
def test_the_visitor_reads_place_and_estimate_in_their_language(lang, position, shape, text):
    with translation.override(lang):
        assert widget_strings.queue_text(position, shape) == text


# --- read from the register --------------------------------------------------------------------


def _waiting(minutes_ago: float, now=None, **fields) -> Conversation:
    now = now or timezone.now()
    return Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        created_at=now - timedelta(minutes=minutes_ago),
        **fields,
    )


@pytest.mark.django_db
def test_the_position_counts_the_waiting_chats_ahead_only(django_assert_num_queries):
    first, second, third = _waiting(9), _waiting(5), _waiting(1)
    _waiting(7, status=Conversation.Status.ACTIVE)
    with django_assert_num_queries(1):
        assert waiting.queue_position(third) == 3
    assert [waiting.queue_position(c) for c in (first, second)] == [1, 2]
    first.status = Conversation.Status.ACTIVE
    first.save(update_fields=["status"])
    assert waiting.queue_position(third) == 2
    assert waiting.queue_position(first) is None


@pytest.mark.django_db
def test_the_basis_is_the_last_hours_claims_agents_online_and_the_hours(agent_online):
    now = timezone.now()
    for wait in (60, 120, 180):
        _waiting(
            30,
            now,
            status=Conversation.Status.ACTIVE,
            claimed_at=now - timedelta(minutes=30) + timedelta(seconds=wait),
        )
    # Taken two hours ago: not part of the last hour.
    _waiting(150, status=Conversation.Status.ACTIVE, claimed_at=now - timedelta(minutes=120))
    got = waiting.wait_basis(now)
    assert (got.agents_online, got.open_now, got.taken_last_hour) == (1, True, 3)
    assert got.mean_wait_seconds == pytest.approx(120)
    local = timezone.localtime(now)
    OpeningHours.objects.create(weekday=(local.weekday() + 1) % 7, opens=time(0), closes=time(1))
    assert waiting.wait_basis(now).open_now is False


@pytest.mark.django_db
def test_the_queue_announcement_reads_the_queue_in_a_fixed_number_of_queries(
    agent_online, django_assert_num_queries
):
    for minutes in range(20, 0, -1):
        _waiting(minutes)
    # agents online, the hour's claims, opening hours, the waiting ids: whatever the length.
    with django_assert_num_queries(4):
        items = waiting.queue_estimates()
    assert [i["position"] for i in items] == list(range(1, 21))
    assert items[0]["estimate"] == {"kind": "few"}
    assert len(waiting.queue_estimates(limit=5)) == 5
