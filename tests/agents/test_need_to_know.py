"""Need to know: who may list and open which chat, its visitor data and its export.

Each role against every history, transcript and visitor-data URL. A refusal is always a 404, the
same as for a chat that does not exist; only the anonymous are sent to the login page.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agents.access import access_review_rows
from agents.roles import AGENT, TEAM_LEAD
from agents.services import guidance_acknowledge
from chat import services
from chat.models import AuditEvent, Conversation, Message, Participation, hash_token
from tests.conftest import _user

pytestmark = pytest.mark.django_db

ROLES = [
    "participant",
    "outsider",
    "unacknowledged",
    "team_lead",
    "director",
    "director_unacknowledged",
    "no_role",
    "anonymous",
]


def _chat(label: str, *, agent=None, status=Conversation.Status.CLOSED) -> Conversation:
    conv = Conversation.objects.create(
        token_hash=hash_token(f"token-{label}"), status=status, assigned_agent=agent
    )
    Message.objects.create(conversation=conv, sender="visitor", text=f"visitor text {label}")
    return conv


@pytest.fixture
def world(alice, bob, dana, charlie):
    """Alice took part in three chats, each in a different way; bob served a fourth alone."""
    assigned = _chat("assigned", agent=alice)
    transferred = _chat("transferred", status=Conversation.Status.WAITING)
    services.conversation_claim(conversation_id=transferred.pk, agent=alice)
    transferred.refresh_from_db()
    services.conversation_transfer(conversation=transferred, from_agent=alice, to_agent=bob)
    wrote = _chat("wrote", agent=bob)
    Message.objects.create(
        conversation=wrote, sender="agent", agent=alice, author_name="Alice", text="from alice"
    )
    others = _chat("others", agent=bob)
    olli = _user("olli", first="Olli", last="Outsider", group=AGENT)
    tess = _user("tess", first="Tess", last="Lead", group=TEAM_LEAD)
    return {
        "chats": {"assigned": assigned, "transferred": transferred, "wrote": wrote},
        "others": others,
        "users": {
            "participant": (alice, True),
            "outsider": (olli, True),
            "unacknowledged": (alice, False),
            "team_lead": (tess, True),
            "director": (dana, True),
            "director_unacknowledged": (dana, False),
            "no_role": (charlie, True),
        },
    }


def _client(world, role: str) -> Client:
    client = Client()
    if role == "anonymous":
        return client
    user, acknowledged = world["users"][role]
    if acknowledged:
        guidance_acknowledge(user=user, actor_ip=None)
    client.force_login(user)
    return client


def _refused(response, role: str) -> bool:
    if role == "anonymous":
        return response.status_code == 302 and response["Location"].startswith("/console/login/")
    return response.status_code == 404


# Which roles may read the chats alice took part in, and bob's chat that she did not.
READS_HERS = {"participant", "team_lead", "director", "director_unacknowledged"}
READS_ALL = {"team_lead", "director", "director_unacknowledged"}
# The directors' visitor-data tools.
DATA_REQUESTS = {"director"}


def _reads(role: str, readers: set[str]) -> bool:
    # Reading anything needs the current guidance; the unacknowledged director has not read it.
    return role in readers and role != "director_unacknowledged"


@pytest.mark.parametrize("role", ROLES)
def test_the_history_lists_only_the_chats_the_role_may_read(role, world):
    response = _client(world, role).get("/console/history/")
    if role in ("unacknowledged", "director_unacknowledged", "no_role", "anonymous"):
        assert _refused(response, role)
        return
    assert response.status_code == 200
    page = response.content.decode()
    for conv in world["chats"].values():
        assert (conv.reference in page) == _reads(role, READS_HERS)
    assert (world["others"].reference in page) == _reads(role, READS_ALL)


@pytest.mark.parametrize("which", ["assigned", "transferred", "wrote", "others"])
@pytest.mark.parametrize("role", ROLES)
def test_a_transcript_opens_only_for_who_needs_it(role, which, world):
    conv = world["others"] if which == "others" else world["chats"][which]
    response = _client(world, role).get(f"/console/history/{conv.reference}/")
    allowed = _reads(role, READS_ALL if which == "others" else READS_HERS)
    if allowed:
        assert response.status_code == 200
        assert f"visitor text {which}" in response.content.decode()
    else:
        assert _refused(response, role)
        assert f"visitor text {which}" not in response.content.decode()
    opened = AuditEvent.objects.filter(
        action=AuditEvent.Action.TRANSCRIPT_OPENED, object_ref=conv.reference
    ).count()
    assert opened == (1 if allowed else 0)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_a_chat_that_does_not_exist_is_refused_the_same_way(role, world):
    response = _client(world, role).get("/console/history/ZZZZZ-ZZZZZ/")
    assert response.status_code == 404


def _data_request(client: Client, kind: str, reference: str):
    if kind == "search":
        return client.get("/console/requests/")
    if kind == "find":
        return client.post("/console/requests/", {"reference": reference})
    if kind == "detail":
        return client.get(f"/console/requests/{reference}/")
    if kind == "export":
        return client.post(
            f"/console/requests/{reference}/export/",
            {"export-request_id": "DSR-1", "export-format": "json"},
        )
    # Without the confirmation: a director gets the form back, nothing is erased.
    return client.post(f"/console/requests/{reference}/erase/", {"erase-request_id": "DSR-1"})


@pytest.mark.parametrize("kind", ["search", "find", "detail", "export", "erase"])
@pytest.mark.parametrize("role", ROLES)
def test_visitor_data_and_its_export_are_the_directors_alone(role, kind, world):
    conv = world["chats"]["assigned"]
    response = _data_request(_client(world, role), kind, conv.reference)
    if role in DATA_REQUESTS:
        assert response.status_code == (400 if kind == "erase" else 200)
        if kind == "export":
            assert "visitor text assigned" in response.content.decode()
    else:
        assert _refused(response, role)
        assert not AuditEvent.objects.filter(
            action__in=[AuditEvent.Action.EXPORT, AuditEvent.Action.SEARCH]
        ).exists()
    assert Conversation.objects.filter(pk=conv.pk).exists()


def test_a_transfer_leaves_both_agents_on_record(world, alice, bob):
    conv = world["chats"]["transferred"]
    taken = set(Participation.objects.filter(conversation=conv).values_list("agent", "via"))
    assert taken == {(alice.pk, "claimed"), (bob.pk, "transferred")}


def test_reading_every_chat_is_granted_as_a_role_and_shown_in_the_review(world, alice):
    rows = {row["user"].get_username(): row for row in access_review_rows()}
    assert rows["tess"]["reads_all_history"] and rows["dana"]["reads_all_history"]
    assert not rows["alice"]["reads_all_history"] and not rows["olli"]["reads_all_history"]
    alice.groups.add(Group.objects.get(name=TEAM_LEAD))
    client = _client(world, "participant")
    assert client.get(f"/console/history/{world['others'].reference}/").status_code == 200


def test_the_history_list_costs_the_same_queries_for_few_and_many_chats(world, alice):
    client = _client(world, "participant")
    client.get("/console/history/")  # warm the session and permission caches

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/console/history/").status_code == 200
        return len(queries)

    few = cost()
    for i in range(30):
        _chat(f"more-{i}", agent=alice)
    assert cost() == few
    # The session and account (3 more to save the session's activity time), then the profile,
    # the two permission reads, the colleagues for the agent filter, the count, the page and
    # the page's tags (one query for all of them).
    assert few == 12


def test_a_transcript_costs_the_same_queries_for_a_short_and_a_long_chat(world, alice, bob):
    """The transcript reads its messages, authors, pages and audit in a fixed number of
    queries: a long chat with many agents' replies and many pages costs no more."""
    from chat.models import PageVisit

    chat = world["chats"]["assigned"]
    client = _client(world, "participant")
    url = f"/console/history/{chat.reference}/"
    client.get(url)  # warm the session and permission caches

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    short = cost()
    for i in range(40):
        Message.objects.create(conversation=chat, sender="visitor", text=f"question {i}")
        Message.objects.create(
            conversation=chat, sender="agent", agent=(alice, bob)[i % 2], text=f"answer {i}"
        )
        PageVisit.objects.create(conversation=chat, url=f"https://example.org/{i}", title="t")
    assert cost() == short
