"""/accessibility/: the statement in fi, sv and en from live settings, and its feedback form,
whose messages the service director answers in admin within 14 days."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chat.models import ControllerDetails
from feedback.models import AccessibilityFeedback
from retention.purge import purge_expired

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"


@pytest.fixture
def controller(db):
    return ControllerDetails.objects.create(
        controller_name="Example Study Centre", email="office@example.org"
    )


def _page(lang: str = "en", **query) -> str:
    response = Client().get("/accessibility/", {"lang": lang, **query})
    assert response.status_code == 200
    assert response["Content-Language"] == lang
    assert not response.cookies
    return html.unescape(response.content.decode())


def _send(data: dict, *, origin: str = ORIGIN, lang: str = "en", ip: str = "203.0.113.9"):
    return Client().post(f"/accessibility/?lang={lang}", data, HTTP_ORIGIN=origin, REMOTE_ADDR=ip)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "fi",
            [
                "Saavutettavuusseloste",
                "WCAG 2.1 -ohjeiston AA-tason",
                "Liikenne- ja viestintävirasto Traficom",
                "14 päivän kuluessa",
                "office@example.org",
                "Example Study Centre",
                "3. helmikuuta 2026",
            ],
        ),
        (
            "sv",
            [
                "Tillgänglighetsutlåtande",
                "nivå AA i WCAG 2.1",
                "Transport- och kommunikationsverket Traficom",
                "inom 14 dagar",
                "office@example.org",
            ],
        ),
        (
            "en",
            [
                "Accessibility statement",
                "WCAG 2.1 level AA",
                "Finnish Transport and Communications Agency Traficom",
                "within 14 days",
                "office@example.org",
                "2026",
            ],
        ),
    ],
)
def test_the_statement_speaks_each_language_from_live_settings(lang, words, settings, controller):
    settings.CHAT_ACCESSIBILITY_REVIEWED_ON = date(2026, 2, 3)
    page = _page(lang)
    assert f'<html lang="{lang}">' in page
    for word in words:
        assert word in page
    # The authority of today, not the one before 2025.
    assert "aluehallintovirasto" not in page.lower()


def test_the_status_follows_the_list_of_known_issues(monkeypatch, controller):
    from feedback import accessibility

    # No open finding since the absolute sign-in limit warns (docs/accessibility.md): "meets",
    # and no list of what does not conform.
    page = _page()
    assert "The chat meets the requirements of WCAG 2.1 level AA." in page
    assert "partially" not in page and 'id="issues"' not in page
    for lang, words in (
        ("fi", "täyttää WCAG 2.1 -ohjeiston AA-tason vaatimukset."),
        ("sv", "uppfyller kraven på nivå AA i WCAG 2.1."),
    ):
        assert (
            words in _page(lang) and "osittain" not in _page(lang) and "delvis" not in _page(lang)
        )
    monkeypatch.setattr(
        accessibility,
        "KNOWN_ISSUES",
        [("1.4.3", {"fi": "x", "sv": "x", "en": "The chart colours are too light."})],
    )
    page = _page()
    assert "partially meets" in page
    assert "WCAG 1.4.3</strong>: The chart colours are too light." in page


def test_the_widget_and_the_privacy_notice_link_the_statement(client):
    panel = client.get("/widget/panel/?lang=sv").content.decode()
    assert '<a href="/accessibility/?lang=sv"' in panel and "Tillgänglighetsutlåtande" in panel
    notice = client.get("/privacy/?lang=en").content.decode()
    assert 'href="/accessibility/?lang=en"' in notice
    assert "The accessibility statement&#x27;s feedback form stores only" in notice


def test_feedback_is_stored_as_written_and_nothing_else(controller):
    response = _send({"message": "  The Send button is hard to see.  ", "reply_email": "a@b.fi"})
    assert response.status_code == 302
    assert response["Location"] == "/accessibility/?lang=en&sent=1"
    item = AccessibilityFeedback.objects.get()
    assert item.message == "The Send button is hard to see."
    assert item.reply_email == "a@b.fi"
    assert item.language == "en"
    assert item.answered_at is None
    assert item.due_at == item.received_at + timedelta(days=14)
    # No address, browser or other trace of the sender anywhere in the row.
    row = AccessibilityFeedback.objects.values().get()
    assert "203.0.113.9" not in str(row)
    assert "Thank you for your feedback!" in _page(sent="1")


def test_the_reply_address_is_optional_and_identifiers_are_masked():
    assert _send({"message": "My code is 131052-308T", "reply_email": ""}).status_code == 302
    item = AccessibilityFeedback.objects.get()
    assert "131052-308T" not in item.message
    assert item.reply_email == ""


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"message": "   ", "reply_email": ""}, "Please write your feedback"),
        ({"message": "x" * 2001, "reply_email": ""}, "too long (at most 2000 characters)"),
        ({"message": "Fine text", "reply_email": "not an address"}, "not valid"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_the_text_kept(data, error):
    response = _send(data)
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert error in page
    assert 'role="alert"' in page
    # What the sender typed is still in the form.
    if data["message"].strip() and len(data["message"]) < 100:
        assert data["message"] in page
    assert not AccessibilityFeedback.objects.exists()


def test_a_post_from_another_site_is_refused():
    response = _send({"message": "Forged", "reply_email": ""}, origin="https://evil.example")
    assert response.status_code == 403
    assert not AccessibilityFeedback.objects.exists()
    assert Client().post("/accessibility/", {"message": "No origin"}).status_code == 403
    assert Client().put("/accessibility/").status_code == 405


def test_one_address_may_send_only_so_many(settings):
    settings.CHAT_SELF_SERVICE_PER_HOUR_PER_IP = 2
    for n in range(2):
        assert _send({"message": f"note {n}", "reply_email": ""}).status_code == 302
    refused = _send({"message": "one more", "reply_email": ""})
    assert refused.status_code == 429
    assert "Too many messages" in html.unescape(refused.content.decode())
    assert AccessibilityFeedback.objects.count() == 2


def test_the_director_sees_due_dates_and_marks_feedback_answered(client, dana):
    late = AccessibilityFeedback.objects.create(
        message="Old one", language="fi", received_at=timezone.now() - timedelta(days=20)
    )
    fresh = AccessibilityFeedback.objects.create(
        message="New one", reply_email="x@example.org", language="sv"
    )
    client.force_login(dana)
    listing = client.get("/admin/feedback/accessibilityfeedback/")
    assert listing.status_code == 200
    page = html.unescape(listing.content.decode())
    assert "Old one" in page and "New one" in page
    # The admin speaks the director's language (Finnish by default).
    assert "saavutettavuuspalaute" in page
    assert page.count("myöhässä") == 1
    assert page.count("vastaamatta") == 2
    response = client.post(
        "/admin/feedback/accessibilityfeedback/",
        {"action": "mark_answered", "_selected_action": [late.pk]},
    )
    assert response.status_code == 302
    late.refresh_from_db()
    assert late.answered_at is not None and late.answered_by == dana
    page = html.unescape(client.get("/admin/feedback/accessibilityfeedback/").content.decode())
    assert "myöhässä" not in page and page.count("vastaamatta") == 1
    detail = client.get(f"/admin/feedback/accessibilityfeedback/{fresh.pk}/change/")
    assert 'href="mailto:x@example.org"' in detail.content.decode()
    # What the sender wrote cannot be edited, and nothing can be added by hand.
    assert client.get("/admin/feedback/accessibilityfeedback/add/").status_code == 403


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_no_one_else_reads_accessibility_feedback(client, request, who):
    AccessibilityFeedback.objects.create(message="Private", language="fi")
    client.force_login(request.getfixturevalue(who))
    response = client.get("/admin/feedback/accessibilityfeedback/")
    assert response.status_code in (302, 403)


def test_the_purge_deletes_feedback_past_the_retention_period(settings):
    now = timezone.now()
    AccessibilityFeedback.objects.create(
        message="Old", language="fi", received_at=now - timedelta(days=120)
    )
    kept = AccessibilityFeedback.objects.create(
        message="Recent", language="fi", received_at=now - timedelta(days=30)
    )
    outcome = purge_expired(now=now)
    assert outcome.deleted.get("feedback.accessibilityfeedback") == 1
    assert list(AccessibilityFeedback.objects.all()) == [kept]
