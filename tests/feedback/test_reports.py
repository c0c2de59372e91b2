"""The director's report page and CSV: who may see them and what they show."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from .factories import conversation

pytestmark = pytest.mark.django_db

PAGES = ["/reports/", "/reports/report.csv", "/reports/breakdowns.csv"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


@pytest.mark.parametrize("url", PAGES)
def test_staff_without_a_role_is_refused(client, charlie, url):
    client.force_login(charlie)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_agents_are_refused(client, alice, url):
    client.force_login(alice)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_the_director_sees_the_reports(client, dana, url):
    client.force_login(dana)
    assert client.get(url).status_code == 200


@pytest.fixture
def todays_chats(alice):
    now = timezone.now() - timedelta(minutes=30)
    conversation(
        created_at=now,
        agent=alice,
        wait=15,
        first_response=20,
        length=400,
        feedback=(True, False),
        comment="<img src=x onerror=alert(1)> =cmd",
    )
    conversation(created_at=now, agent=alice, wait=45, first_response=50, length=200)


def test_the_page_shows_numbers_charts_and_comments_inert(client, dana, todays_chats):
    from agents.services import guidance_acknowledge

    guidance_acknowledge(user=dana, actor_ip=None)
    client.force_login(dana)
    response = client.get("/reports/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<dd data-metric="chats">2</dd>' in html
    assert '<dd data-metric="feedback_answers">1</dd>' in html
    assert '<dd data-metric="service_yes_share">100 %</dd>' in html
    assert '<dd data-metric="response_rate">50 %</dd>' in html
    assert html.count("<svg") == 3
    assert "<script" not in html
    # A comment that slipped in as markup is shown as text, never as an element.
    assert "&lt;img src=x onerror=alert(1)&gt; =cmd" in html
    assert "<img" not in html
    assert "Alice Agent" in html


def test_visitors_comments_wait_for_the_guidance_but_the_counts_do_not(client, dana, todays_chats):
    client.force_login(dana)
    html = client.get("/reports/").content.decode()
    assert '<dd data-metric="feedback_answers">1</dd>' in html
    assert "onerror" not in html and "=cmd" not in html
    assert "Kuittaa konsolin ohjeistus luetuksi, niin näet kävijöiden kommentit." in html


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_the_csv_has_a_row_per_period_and_agent(client, dana, todays_chats, period):
    client.force_login(dana)
    response = client.get(f"/reports/report.csv?period={period}")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    mine = [r for r in rows if r["agent"] == "Alice Agent"]
    assert len(mine) == 1
    assert mine[0]["chats"] == "2"
    assert mine[0]["wait_median_s"] == "15"
    assert mine[0]["wait_p90_s"] == "45"
    assert rows[-1]["period"] == "TOTAL" and rows[-1]["chats"] == "2"
    assert all("onerror" not in value for row in rows for value in row.values())


@pytest.mark.parametrize(
    "query", ["?period=year", "?from=yesterday&to=2026-13-40", "?from=2001-01-01&to=2030-01-01"]
)
def test_odd_parameters_fall_back_to_sensible_ranges(client, dana, query):
    client.force_login(dana)
    assert client.get("/reports/" + query).status_code == 200
    assert client.get("/reports/report.csv" + query).status_code == 200
