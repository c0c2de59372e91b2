"""The console's data-subject request pages: who may use them and what they do."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from chat.models import AuditEvent, Conversation
from tests.dsr.test_data_requests import (
    OTHER_IP,
    SECRET_TEXT,
    VISITOR_IP,
    full_conversation,
    other_conversation,
    rows_of,
)

pytestmark = pytest.mark.django_db

SEARCH = "/console/requests/"


def _urls(reference: str) -> list[tuple[str, str, dict]]:
    return [
        ("get", SEARCH, {}),
        ("post", SEARCH, {"reference": reference}),
        ("get", f"{SEARCH}{reference}/", {}),
        (
            "post",
            f"{SEARCH}{reference}/export/",
            {"export-request_id": "DSR-1", "export-format": "json"},
        ),
        (
            "post",
            f"{SEARCH}{reference}/erase/",
            {"erase-request_id": "DSR-1", "erase-confirm": "on"},
        ),
    ]


def _client(user=None) -> Client:
    """Signed in as `user`, who has read the guidance and reads the pages in English."""
    from agents.services import guidance_acknowledge, language_set

    client = Client()
    if user is not None:
        guidance_acknowledge(user=user, actor_ip=None)
        language_set(user=user, language="en")
        client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_request_url():
    conv = full_conversation()
    for method, url, data in _urls(conv.reference):
        response = getattr(_client(), method)(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/console/login/"), url
    assert rows_of(conv.pk)["chat.conversation"] == 1
    assert _audit().count() == 0


@pytest.mark.parametrize("who", ["charlie", "alice"])
def test_staff_without_the_director_role_get_404_everywhere(who, request):
    user = request.getfixturevalue(who)
    conv = full_conversation()
    for method, url, data in _urls(conv.reference):
        response = getattr(_client(user), method)(url, data)
        assert response.status_code == 404, (who, url)
    assert all(rows_of(conv.pk).values())
    assert _audit().count() == 0


def test_a_director_can_use_every_request_url(dana):
    conv = full_conversation()
    client = _client(dana)
    statuses = [getattr(client, m)(url, data).status_code for m, url, data in _urls(conv.reference)]
    # The erasure redirects back to the search page once done.
    assert statuses == [200, 200, 200, 200, 302]
    assert not Conversation.objects.filter(pk=conv.pk).exists()
    assert client.get(SEARCH).status_code == 200


def test_a_search_lists_references_and_dates_but_no_text(dana):
    conv = full_conversation()
    other = other_conversation()
    response = _client(dana).post(SEARCH, {"ip": VISITOR_IP})
    page = response.content.decode()
    assert conv.reference in page
    assert other.reference not in page
    assert SECRET_TEXT not in page
    assert "1 conversation found" in page
    event = _audit().get()
    assert event.action == AuditEvent.Action.SEARCH and event.actor == dana
    assert event.detail["criteria"] == ["ip"]
    assert VISITOR_IP not in json.dumps(event.detail) and event.actor_ip != VISITOR_IP


def test_a_search_by_time_range_from_the_form(dana):
    conv = full_conversation()
    other = other_conversation()
    since = conv.created_at.strftime("%Y-%m-%dT%H:%M")
    page = _client(dana).post(SEARCH, {"since": since}).content.decode()
    assert conv.reference in page and other.reference not in page


def test_a_search_without_criteria_explains_and_audits_nothing(dana):
    response = _client(dana).post(SEARCH, {"reference": "", "ip": ""})
    assert response.status_code == 400
    assert "Give a reference" in response.content.decode()
    bad_ip = _client(dana).post(SEARCH, {"ip": "999.1.1.1"})
    assert bad_ip.status_code == 400
    assert _audit().count() == 0


def test_search_criteria_never_travel_in_the_url(dana):
    full_conversation()
    response = _client(dana).get(SEARCH, {"ip": VISITOR_IP})
    assert response.status_code == 200
    assert "found" not in response.content.decode()
    assert _audit().count() == 0


def test_the_detail_page_shows_dates_and_counts_but_no_content(dana, alice):
    conv = full_conversation(agent=alice)
    page = _client(dana).get(f"{SEARCH}{conv.reference.lower()}/").content.decode()
    assert conv.reference in page
    assert SECRET_TEXT not in page and VISITOR_IP not in page
    assert "messages: 2" in page.lower()
    assert 'name="erase-confirm"' in page and 'name="export-request_id"' in page
    assert "csrfmiddlewaretoken" in page


def test_an_unknown_reference_is_404(dana):
    assert _client(dana).get(f"{SEARCH}ABCDE-FGHJK/").status_code == 404
    assert _client(dana).get(f"{SEARCH}nonsense/").status_code == 404


def test_the_json_export_downloads_as_an_attachment_and_is_audited_once(dana):
    conv = full_conversation()
    other_conversation()
    response = _client(dana).post(
        f"{SEARCH}{conv.reference}/export/",
        {"export-request_id": "DSR-2026-014", "export-format": "json"},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="chat-{conv.reference}.json"'
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    assert data["messages"][0]["text"] == SECRET_TEXT
    assert OTHER_IP not in response.content.decode()
    event = _audit().get()
    assert (event.action, event.object_ref) == (AuditEvent.Action.EXPORT, conv.reference)
    assert event.detail == {"request_id": "DSR-2026-014", "format": "json"}


def test_the_text_export_downloads_as_plain_text(dana):
    conv = full_conversation()
    response = _client(dana).post(
        f"{SEARCH}{conv.reference}/export/",
        {"export-request_id": "DSR-2026-014", "export-format": "text"},
    )
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].endswith(f'chat-{conv.reference}.txt"')
    assert SECRET_TEXT in response.content.decode()


def test_an_export_without_a_request_id_is_refused(dana):
    conv = full_conversation()
    response = _client(dana).post(
        f"{SEARCH}{conv.reference}/export/", {"export-request_id": "  ", "export-format": "json"}
    )
    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert _audit().count() == 0


def test_an_erasure_needs_the_confirmation_and_a_request_id(dana):
    conv = full_conversation()
    url = f"{SEARCH}{conv.reference}/erase/"
    client = _client(dana)
    assert client.post(url, {"erase-request_id": "DSR-1"}).status_code == 400
    assert client.post(url, {"erase-confirm": "on"}).status_code == 400
    assert client.get(url).status_code == 405
    assert all(rows_of(conv.pk).values())
    assert _audit().count() == 0


def test_an_erasure_from_the_console_deletes_everything_and_says_so(dana):
    conv = full_conversation()
    other = other_conversation()
    response = _client(dana).post(
        f"{SEARCH}{conv.reference}/erase/",
        {"erase-request_id": "DSR-2026-020", "erase-confirm": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert f"Conversation {conv.reference} erased" in response.content.decode()
    assert set(rows_of(conv.pk).values()) == {0}
    assert all(rows_of(other.pk).values())
    event = _audit().get()
    assert event.action == AuditEvent.Action.ERASURE and event.actor == dana
    assert event.detail["request_id"] == "DSR-2026-020"


def test_the_forms_are_protected_against_cross_site_requests(dana):
    conv = full_conversation()
    client = Client(enforce_csrf_checks=True)
    client.force_login(dana)
    response = client.post(
        f"{SEARCH}{conv.reference}/erase/", {"erase-request_id": "DSR-1", "erase-confirm": "on"}
    )
    assert response.status_code == 403
    assert Conversation.objects.filter(pk=conv.pk).exists()


def test_the_pages_carry_no_inline_script_or_style(dana):
    conv = full_conversation()
    client = _client(dana)
    for url in (SEARCH, f"{SEARCH}{conv.reference}/"):
        response = client.get(url)
        page = response.content.decode()
        assert "<script" not in page and "<style" not in page and " style=" not in page
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert 'href="/privacy/"' in page


def _audit():
    # Setting up the named users (roles, logins) is audited too; these tests look at the
    # events of the actions under test.
    return AuditEvent.objects.exclude(
        action__in=["role_granted", "role_revoked", "login", "logout", "guidance_ack"]
    )
