"""The reports' breakdowns on known chats: by tag and by wrap-up reason (waiting time and first
response, median and 90 %), and how many chats each agent held at the same time, by hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Participation, Tag, WrapUpReason
from feedback.selectors import concurrency_by_hour, day_start, dimension_report
from tests.feedback.factories import conversation

pytestmark = pytest.mark.django_db

DAY = timezone.localdate() - timedelta(days=2)


def at(hour: int, minute: int = 0) -> timezone.datetime:
    return day_start(DAY) + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def wrapped_up_chats(alice, bob):
    """Alice's two chats (one tagged twice), Bob's one, one nobody took."""
    answered = WrapUpReason.objects.create(
        name_fi="Vastattu", name_sv="Besvarad", name_en="Answered"
    )
    referred = WrapUpReason.objects.create(
        name_fi="Ohjattu", name_sv="Hänvisad", name_en="Referred"
    )
    fees = Tag.objects.create(name_fi="Maksut", name_sv="Avgifter", name_en="Fees")
    courses = Tag.objects.create(name_fi="Kurssit", name_sv="Kurser", name_en="Courses")
    Tag.objects.create(name_fi="Muu", name_sv="Annat", name_en="Other")  # never used
    c1, _ = conversation(
        created_at=at(10),
        agent=alice,
        wait=10,
        first_response=20,
        length=600,
        feedback=(True, True),
    )
    c2, _ = conversation(created_at=at(10, 5), agent=alice, wait=40, first_response=50, length=1200)
    c3, _ = conversation(
        created_at=at(14),
        agent=bob,
        wait=100,
        first_response=130,
        length=300,
        feedback=(False, True),
    )
    conversation(created_at=at(15))
    for chat, reason, tags in (
        (c1, answered, [fees]),
        (c2, answered, [fees, courses]),
        (c3, referred, []),
    ):
        chat.wrap_up_reason = reason
        chat.save(update_fields=["wrap_up_reason"])
        chat.tags.set(tags)


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows}


def test_chats_by_tag_with_their_waiting_and_first_response_times(wrapped_up_chats):
    rows = dimension_report(start=DAY, end=DAY, dimension="tag", language="en")
    assert [row["name"] for row in rows] == ["Fees", "Courses", "No tag"]
    fees, courses, none = rows
    assert (fees["chats"], fees["taken"]) == (2, 2)
    assert (fees["wait_median"], fees["wait_p90"]) == (10, 40)
    assert (fees["first_response_median"], fees["first_response_p90"]) == (20, 50)
    assert fees["service_yes_share"] == 1.0 and fees["feedback_answers"] == 1
    assert (courses["chats"], courses["wait_median"], courses["first_response_p90"]) == (1, 40, 50)
    # Bob's untagged chat and the one nobody took.
    assert (none["chats"], none["taken"], none["wait_median"], none["wait_p90"]) == (2, 1, 100, 100)
    assert none["first_response_median"] == 130 and none["service_yes_share"] == 0.0


def test_chats_by_wrap_up_reason_in_the_viewers_language(wrapped_up_chats):
    rows = _by_name(dimension_report(start=DAY, end=DAY, dimension="reason", language="sv"))
    assert set(rows) == {"Besvarad", "Hänvisad", "Ingen orsak vald"}
    assert (rows["Besvarad"]["chats"], rows["Besvarad"]["wait_p90"]) == (2, 40)
    assert rows["Besvarad"]["first_response_median"] == 20
    assert (rows["Hänvisad"]["chats"], rows["Hänvisad"]["first_response_median"]) == (1, 130)


def test_chats_outside_the_days_asked_for_are_not_counted(wrapped_up_chats):
    rows = dimension_report(
        start=DAY + timedelta(days=1), end=DAY + timedelta(days=1), dimension="tag", language="fi"
    )
    assert rows == []


def test_an_unknown_dimension_is_refused():
    with pytest.raises(KeyError):
        dimension_report(start=DAY, end=DAY, dimension="mood", language="en")


def test_chats_held_at_the_same_time_by_agent_and_hour(alice, bob, wrapped_up_chats):
    hours = concurrency_by_hour(start=DAY, end=DAY)
    assert hours["hours"] == [10, 14]
    cells = {
        row["agent"]: {c["hour"]: (c["average"], c["peak"]) for c in row["cells"]}
        for row in hours["agents"]
    }
    # Alice: 10:00:10-10:10 and 10:05:40-10:25, two at once between them; 1,750 s of chats.
    assert cells["Alice Agent"] == {10: (0.49, 2), 14: (0.0, 0)}
    # Bob: 14:01:40-14:05.
    assert cells["Bob Builder"] == {10: (0.0, 0), 14: (0.06, 1)}
    # Over two days, the same chats make half the average and the same peak.
    two_days = concurrency_by_hour(start=DAY - timedelta(days=1), end=DAY)
    alice_row = next(r for r in two_days["agents"] if r["agent"] == "Alice Agent")
    assert {c["hour"]: (c["average"], c["peak"]) for c in alice_row["cells"]}[10] == (0.24, 2)


def test_a_transferred_chat_counts_for_each_agent_while_they_held_it(alice, bob):
    chat, _ = conversation(created_at=at(16), agent=bob, wait=0, first_response=60, length=4500)
    Participation.objects.create(conversation=chat, agent=alice, via="claimed", created_at=at(16))
    Participation.objects.create(
        conversation=chat, agent=bob, via="transferred", created_at=at(16, 30)
    )
    hours = concurrency_by_hour(start=DAY, end=DAY)
    cells = {
        row["agent"]: {c["hour"]: (c["average"], c["peak"]) for c in row["cells"]}
        for row in hours["agents"]
    }
    assert cells == {
        "Alice Agent": {16: (0.5, 1), 17: (0.0, 0)},
        "Bob Builder": {16: (0.5, 1), 17: (0.25, 1)},
    }


def test_a_chat_handed_on_at_one_moment_is_not_two_at_once(alice):
    conversation(created_at=at(9), agent=alice, wait=0, length=600)
    conversation(created_at=at(9, 10), agent=alice, wait=0, length=600)
    hours = concurrency_by_hour(start=DAY, end=DAY)
    cell = hours["agents"][0]["cells"][0]
    assert (cell["hour"], cell["average"], cell["peak"]) == (9, 0.33, 1)


def test_capacity_use_is_the_average_held_as_a_share_of_the_agents_capacity(alice, bob):
    from agents.services import profile_get

    profile_get(user=bob)
    profile = profile_get(user=alice)
    profile.capacity = 2
    profile.save(update_fields=["capacity"])
    conversation(created_at=at(9), agent=alice, wait=0, length=1800)
    conversation(created_at=at(9), agent=alice, wait=0, length=1800)
    conversation(created_at=at(9), agent=bob, wait=0, length=3600)
    rows = {row["agent"]: row for row in concurrency_by_hour(start=DAY, end=DAY)["agents"]}
    # Alice held two chats for half an hour: on average one, half her capacity of two.
    assert rows["Alice Agent"]["capacity"] == 2
    assert rows["Alice Agent"]["cells"] == [{"hour": 9, "average": 1.0, "peak": 2, "use": 0.5}]
    # Bob's profile has the default capacity of three.
    assert rows["Bob Builder"]["cells"][0]["use"] == round(1.0 / 3, 2)


def test_chats_by_topic_in_the_viewers_language(alice, bob):
    from chat.models import Topic

    courses = Topic.objects.create(
        slug="courses", name_fi="Kurssit", name_sv="Kurser", name_en="Courses"
    )
    fees = Topic.objects.create(slug="fees", name_fi="Maksut", name_sv="Avgifter", name_en="Fees")
    for topic, wait in ((courses, 10), (courses, 30), (fees, 100), (None, 5)):
        chat, _ = conversation(created_at=at(11), agent=alice, wait=wait, first_response=wait + 5)
        chat.topic = topic
        chat.save(update_fields=["topic"])
    rows = _by_name(dimension_report(start=DAY, end=DAY, dimension="topic", language="sv"))
    assert list(rows) == ["Kurser", "Avgifter", "Inget ämne"]
    # The lower median, as every report figure here.
    assert (rows["Kurser"]["chats"], rows["Kurser"]["wait_median"], rows["Kurser"]["wait_p90"]) == (
        2,
        10,
        30,
    )
    assert rows["Avgifter"]["chats"] == 1 and rows["Avgifter"]["wait_p90"] == 100


def test_the_reports_page_shows_the_breakdowns(client, dana, wrapped_up_chats):
    client.force_login(dana)
    html = client.get(f"/reports/?from={DAY}&to={DAY}").content.decode()
    assert 'id="by-tag"' in html and 'id="by-reason"' in html and 'id="by-hour"' in html
    assert 'id="by-topic"' in html
    assert "Vastattu" in html and "Maksut" in html  # the director's language, Finnish
    assert 'data-hour="10"' in html


def test_the_breakdowns_download_as_csv_with_the_same_numbers(client, dana, wrapped_up_chats):
    import csv
    import io

    client.force_login(dana)
    response = client.get(f"/reports/breakdowns.csv?from={DAY}&to={DAY}")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:5] == ["breakdown", "name", "chats", "taken", "wait_median_s"]
    by_name = {(row[0], row[1]): row for row in rows[1:] if len(row) > 4}
    assert by_name[("tag", "Maksut")][2:7] == ["2", "2", "10", "40", "20"]
    assert by_name[("reason", "Ohjattu")][2:4] == ["1", "1"]
    hours = rows[rows.index(["agent", "hour", "average_at_once", "most_at_once"]) + 1 :]
    assert ["Alice Agent", "10", "0.49", "2"] in hours
