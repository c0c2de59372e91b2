"""The console's pages: who may see them, login and its throttling, guidance, history audit."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from agents.models import AgentProfile
from agents.services import guidance_acknowledge
from chat.models import AuditEvent, Conversation, Message, hash_token
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = ["/console/", "/console/guidance/", "/console/history/"]
POSTS = ["/console/language/", "/console/keepalive/"]


def _conversation(text="My order 123 is late", *, days_ago=0, agent=None):
    created = timezone.now() - timedelta(days=days_ago)
    conv = Conversation.objects.create(
        token_hash=hash_token(f"t-{text}-{days_ago}"),
        created_at=created,
        status=Conversation.Status.CLOSED if agent else Conversation.Status.WAITING,
        assigned_agent=agent,
    )
    Message.objects.create(conversation=conv, sender="visitor", text=text, created_at=created)
    return conv


def _client(user=None, *, acknowledged=True) -> Client:
    client = Client()
    if user is not None:
        if acknowledged:
            guidance_acknowledge(user=user, actor_ip=None)
        client.force_login(user)
    return client


# --- who may see what ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [*PAGES, "/console/history/ABCDE-FGHJK/"])
def test_anonymous_visitors_are_sent_to_the_login_page(url, db):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


@pytest.mark.parametrize("url", POSTS)
def test_anonymous_posts_are_sent_to_the_login_page(url, db):
    response = Client().post(url, {"language": "en"})
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


@pytest.mark.parametrize("url", ["/console/", "/console/guidance/"])
def test_staff_without_a_chat_role_get_a_bare_403(url, charlie):
    conv = _conversation()
    response = _client(charlie, acknowledged=False).get(url)
    assert response.status_code == 403
    body = response.content.decode()
    assert conv.reference not in body
    assert "Queue" not in body and "History" not in body


@pytest.mark.parametrize("url", POSTS)
def test_staff_without_a_chat_role_cannot_post_either(url, charlie):
    response = _client(charlie, acknowledged=False).post(url, {"language": "en"})
    assert response.status_code == 403
    assert AgentProfile.objects.filter(user=charlie, language="en").count() == 0


@pytest.mark.parametrize("user_fixture", ["alice", "dana"])
@pytest.mark.parametrize("url", PAGES)
def test_agents_and_directors_see_every_console_page(url, user_fixture, request):
    user = request.getfixturevalue(user_fixture)
    response = _client(user).get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("user_fixture", ["alice", "dana"])
def test_agents_and_directors_can_keep_their_session_alive(user_fixture, request):
    user = request.getfixturevalue(user_fixture)
    assert _client(user).post("/console/keepalive/").status_code == 204


def test_the_history_needs_the_right_to_read_chats(db):
    user = get_user_model().objects.create_user(username="eve", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="use_console"))
    client = _client(user)
    assert client.get("/console/").status_code == 200
    conv = _conversation()
    assert client.get("/console/history/").status_code == 404
    assert client.get(f"/console/history/{conv.reference}/").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TRANSCRIPT_OPENED).exists()


def test_a_deactivated_account_is_signed_out(alice):
    client = _client(alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = client.get("/console/")
    assert response.status_code == 302


# --- login, logout, throttling, CSRF ---------------------------------------------------------


def test_an_agent_signs_in_and_the_login_is_audited(alice):
    client = Client()
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.actor == alice
    assert event.actor_ip == "127.0.0.1"


def test_someone_without_the_console_permission_cannot_sign_in(charlie):
    client = Client()
    response = client.post("/console/login/", {"username": "charlie", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    wrong = Client().post("/console/login/", {"username": "charlie", "password": "wrong-one-1"})
    # The same answer as a wrong password: nothing tells that the password was right.
    assert response.context["form"].errors == wrong.context["form"].errors


def test_a_failed_login_is_audited_without_the_attempted_password(alice):
    Client().post("/console/login/", {"username": "alice", "password": "not-the-password"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.object_ref == "alice"
    assert "not-the-password" not in str(event.detail)


def test_too_many_failed_logins_lock_the_account_for_a_while(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/console/login/", {"username": "alice", "password": "guess-guess-1"})
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in client.session
    assert client.get("/console/").status_code == 302


def test_logging_out_takes_a_post_and_is_audited(alice):
    client = _client(alice)
    assert client.get("/console/logout/").status_code == 405
    response = client.post("/console/logout/")
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT, actor=alice).count() == 1
    assert client.get("/console/").status_code == 302


def test_forms_need_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    guidance_acknowledge(user=alice, actor_ip=None)
    client.force_login(alice)
    assert client.post("/console/logout/").status_code == 403
    assert client.post("/console/language/", {"language": "en"}).status_code == 403


def test_a_session_ends_after_its_absolute_lifetime_even_when_busy(alice, settings):
    settings.SESSION_ABSOLUTE_LIFETIME_SECONDS = 600
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client = _client(alice)
        for _ in range(3):
            traveller.shift(timedelta(seconds=180))
            assert client.get("/console/").status_code == 200
        traveller.shift(timedelta(seconds=180))
        response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def _console_config(client) -> dict:
    html = client.get("/console/").content.decode()
    found = re.search(r'<script id="console-config" type="application/json">(.*?)</script>', html)
    return json.loads(found[1])


def test_the_console_knows_when_the_sign_in_ends_and_where_to_sign_in_again(alice, settings):
    settings.SESSION_ABSOLUTE_LIFETIME_SECONDS = 600
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client = Client()
        client.post("/console/login/", {"username": "alice", "password": PASSWORD})
        guidance_acknowledge(user=alice, actor_ip=None)
        traveller.shift(timedelta(seconds=100))
        config = _console_config(client)
        # The sign-in time is kept in whole seconds.
        assert config["signin_seconds_left"] in (499, 500)
        assert config["renew_url"] == (
            "/console/login/?renew=1&next=%2Fconsole%2Fsigned-in-again%2F"
        )
        # A signed-in agent is shown the form when asking to sign in again, not sent on.
        assert client.get("/console/login/").status_code == 302
        again = client.get(config["renew_url"])
        assert again.status_code == 200 and 'name="password"' in again.content.decode()
        # Signing in again starts a new lifetime, and the page after it says how long.
        traveller.shift(timedelta(seconds=300))
        done = client.post(
            "/console/login/",
            {"username": "alice", "password": PASSWORD, "next": "/console/signed-in-again/"},
        )
        assert done["Location"] == "/console/signed-in-again/"
        page = client.get("/console/signed-in-again/").content.decode()
        assert re.search(rf'{{"seconds_left": (599|600), "user_id": {alice.pk}}}', page)
        traveller.shift(timedelta(seconds=500))
        assert client.get("/console/").status_code == 200  # past the first sign-in's end


def test_the_signed_in_again_page_is_for_signed_in_staff_only(alice):
    response = Client().get("/console/signed-in-again/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


# --- guidance, language ----------------------------------------------------------------------


def test_the_queue_is_shown_only_after_the_guidance_is_acknowledged(alice, settings):
    settings.CHAT_RETENTION_MONTHS = 3
    client = _client(alice, acknowledged=False)
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"] == "/console/guidance/"
    page = client.get("/console/guidance/").content.decode()
    assert "3 kuukauden" in page  # the default console language is Finnish
    client.post("/console/guidance/")
    profile = AgentProfile.objects.get(user=alice)
    assert profile.guidance_acknowledged_at is not None
    assert client.get("/console/").status_code == 200
    client.post("/console/guidance/")
    events = AuditEvent.objects.filter(action=AuditEvent.Action.GUIDANCE_ACKNOWLEDGED)
    assert [e.actor for e in events] == [alice]


def test_an_agent_chooses_the_console_language(alice):
    client = _client(alice)
    client.post("/console/language/", {"language": "en", "next": "/console/history/"})
    assert AgentProfile.objects.get(user=alice).language == "en"
    page = client.get("/console/").content.decode()
    assert '<html lang="en">' in page
    client.post("/console/language/", {"language": "sv"})
    page = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="sv">' in page
    assert "Kö" in page


def test_an_unknown_language_or_an_outside_redirect_is_refused(alice):
    client = _client(alice)
    assert client.post("/console/language/", {"language": "xx"}).status_code == 400
    response = client.post("/console/language/", {"language": "fi", "next": "https://evil.test/"})
    assert response["Location"] == "/console/"


# --- history and its audit -------------------------------------------------------------------


def test_opening_a_transcript_writes_exactly_one_audit_event_without_text(alice):
    conv = _conversation("My card number is 4111", agent=alice)
    client = _client(alice)
    response = client.get(f"/console/history/{conv.reference}/", REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 200
    assert "My card number is 4111" in response.content.decode()
    events = list(AuditEvent.objects.filter(action=AuditEvent.Action.TRANSCRIPT_OPENED))
    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.object_ref, event.actor_ip) == (
        alice,
        conv.reference,
        "198.51.100.9",
    )
    assert "4111" not in str(event.detail)


def test_a_search_is_audited_without_the_words_searched_for(alice, bob, dana):
    mine = _conversation("Parcel lost in Turku", agent=alice)
    other = _conversation("Invoice question", agent=bob)
    client = _client(dana)
    page = client.get("/console/history/", {"q": "turku"}).content.decode()
    assert mine.reference in page and other.reference not in page
    page = client.get("/console/history/", {"agent": bob.pk}).content.decode()
    assert other.reference in page and mine.reference not in page
    searches = list(AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).order_by("id"))
    assert [s.detail["filters"] for s in searches] == [["text"], ["agent_id"]]
    assert all("turku" not in str(s.detail).lower() for s in searches)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TRANSCRIPT_OPENED).exists()


def test_history_filters_by_date_and_lists_nothing_past_retention(alice, settings):
    settings.CHAT_RETENTION_MONTHS = 3
    recent = _conversation("recent", days_ago=2, agent=alice)
    older = _conversation("older", days_ago=40, agent=alice)
    expired = _conversation("expired", days_ago=120, agent=alice)
    client = _client(alice)
    page = client.get("/console/history/").content.decode()
    assert recent.reference in page and older.reference in page
    assert expired.reference not in page
    since = (timezone.localdate() - timedelta(days=10)).isoformat()
    page = client.get("/console/history/", {"date_from": since}).content.decode()
    assert recent.reference in page and older.reference not in page
    assert client.get(f"/console/history/{expired.reference}/").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TRANSCRIPT_OPENED).exists()


def test_a_bad_date_is_shown_as_an_error_not_a_crash(alice):
    response = _client(alice).get("/console/history/", {"date_from": "yesterday"})
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).exists()


def test_the_console_first_load_is_at_most_60_kib_gzipped(alice):
    import gzip
    import re

    from django.contrib.staticfiles import finders

    html = _client(alice).get("/console/").content
    assets = re.findall(rb'(?:src|href)="/static/([^"]+)"', html)
    assert {a.decode() for a in assets} == {"console/console.js", "console/console.css"}
    # Modules console.js imports load with it.
    script = finders.find("console/console.js")
    with open(script, encoding="utf-8") as f:
        imported = re.findall(r'^import .* from "\.\./([^"]+)";$', f.read(), re.M)
    assets += [name.encode() for name in imported]
    total = len(gzip.compress(html))
    for asset in assets:
        with open(finders.find(asset.decode()), "rb") as f:
            total += len(gzip.compress(f.read()))
    assert total <= 60 * 1024, f"{total} bytes"
