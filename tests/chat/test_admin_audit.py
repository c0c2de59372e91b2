from __future__ import annotations

import pytest

from chat.models import AuditEvent, OpeningHours

pytestmark = pytest.mark.django_db


def test_a_change_in_admin_is_audited_without_its_content(client, dana):
    client.force_login(dana)
    response = client.post(
        "/admin/chat/openinghours/add/", {"weekday": 0, "opens": "08:00", "closes": "15:30"}
    )
    assert response.status_code == 302
    hours = OpeningHours.objects.get()
    event = AuditEvent.objects.get(action="settings_changed")
    assert event.actor == dana
    assert event.object_ref == f"chat.openinghours:{hours.pk}"
    assert event.detail == {"change": "added", "via": "admin"}
    assert "08:00" not in str(event.detail)


def test_admin_never_lists_message_text_and_history_is_read_only(client, dana):
    client.force_login(dana)
    assert client.get("/admin/chat/message/").status_code == 404
    assert client.get("/admin/chat/auditevent/add/").status_code == 403
    assert client.get("/admin/chat/retentionrun/add/").status_code == 403


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_only_directors_reach_the_admin_pages_of_the_register(client, request, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/admin/chat/conversation/")
    assert response.status_code in (302, 403)
