from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from agents.models import AccessGrant
from chat.models import AuditEvent

pytestmark = pytest.mark.django_db

URLS = ["/console/access/", "/console/access/access-review.csv", "/console/access/audit/"]


@pytest.mark.parametrize("url", URLS)
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/console/login/" in response["Location"]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("who", ["charlie", "alice"])
def test_staff_without_the_director_role_get_403(client, request, url, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", URLS)
def test_directors_see_the_pages(client, dana, url):
    client.force_login(dana)
    assert client.get(url).status_code == 200


def test_the_review_lists_every_account_that_can_read_chats_and_flags_dormant_ones(
    client, dana, alice, bob, charlie
):
    type(alice).objects.filter(pk=alice.pk).update(
        last_login=timezone.now() - timedelta(days=400),
        date_joined=timezone.now() - timedelta(days=500),
    )
    client.force_login(dana)
    body = client.get("/console/access/").content.decode()
    assert "alice" in body and "bob" in body and "dana" in body
    assert ">charlie<" not in body.split('id="grant-h"')[0]
    csv = client.get("/console/access/access-review.csv").content.decode()
    lines = {line.split(",")[0]: line for line in csv.splitlines()[1:]}
    assert lines["alice"].endswith("yes")
    assert set(lines) == {"alice", "bob", "dana"}


def test_granting_a_role_records_approval_effector_and_an_audit_event(client, dana, charlie):
    client.force_login(dana)
    response = client.post(
        "/console/access/grant/",
        {"user_id": charlie.pk, "role": "Agent", "approved_by": "Head principal P. Rehtori"},
    )
    assert response.status_code == 302
    assert charlie.groups.filter(name="Agent").exists()
    grant = AccessGrant.objects.get(user=charlie, change="granted")
    assert grant.approved_by == "Head principal P. Rehtori"
    assert grant.effected_by == dana
    event = AuditEvent.objects.get(action="role_granted", object_ref="user:charlie")
    assert event.actor == dana and event.detail == {"role": "Agent"}


def test_a_grant_without_approval_is_refused(client, dana, charlie):
    client.force_login(dana)
    client.post("/console/access/grant/", {"user_id": charlie.pk, "role": "Agent"})
    assert not charlie.groups.exists()


def test_revoking_removes_roles_ends_sessions_and_is_audited(client, dana, alice):
    from django.test import Client

    agent_client = Client()
    agent_client.force_login(alice)
    client.force_login(dana)
    response = client.post(f"/console/access/{alice.pk}/revoke/", {"approved_by": "P. Rehtori"})
    assert response.status_code == 302
    assert not alice.groups.exists()
    assert AuditEvent.objects.filter(action="role_revoked", object_ref="user:alice").count() == 1
    assert AccessGrant.objects.filter(user=alice, change="revoked").count() == 1
    # The agent's browser session is gone: the next request goes to the login page.
    assert agent_client.get("/console/").status_code == 302


def test_role_changes_made_elsewhere_are_recorded_too(alice):
    alice.groups.remove(Group.objects.get(name="Agent"))
    assert AccessGrant.objects.filter(user=alice, change="revoked").exists()
    assert AuditEvent.objects.filter(action="role_revoked").count() == 1


def test_the_audit_log_filters_by_action_and_never_shows_message_text(client, dana, alice):
    from chat.services import audit_record

    audit_record(action="transcript_opened", actor=alice, object_ref="ABCDE-FGHJK")
    audit_record(action="search", actor=alice)
    client.force_login(dana)
    body = client.get(
        "/console/access/audit/?action=transcript_opened&actor=alice"
    ).content.decode()
    assert "ABCDE-FGHJK" in body
    assert body.count("<tr>") == 2  # the header and the one matching event


def test_console_access_follows_roles_direct_permissions_activity_and_superusers(
    alice, charlie, django_user_model
):
    from django.contrib.auth.models import AnonymousUser, Permission

    from agents.selectors import can_use_console

    assert can_use_console(alice)  # through the agent role's group
    assert not can_use_console(charlie)
    assert not can_use_console(AnonymousUser())
    assert not can_use_console(None)
    direct = django_user_model.objects.create_user("direct", password="x" * 20)
    direct.user_permissions.add(Permission.objects.get(codename="use_console"))
    assert can_use_console(direct)
    root = django_user_model.objects.create_superuser("root", password="x" * 20)
    assert can_use_console(root)
    django_user_model.objects.filter(pk__in=[alice.pk, root.pk]).update(is_active=False)
    # The check reads the database, not the (stale) objects in hand.
    assert not can_use_console(alice) and not can_use_console(root)
