from __future__ import annotations

import json
import urllib.request

import pytest


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["database"] == "ok"
    assert body["channel_layer"] == "ok"
    assert body["retention"]["retention_months"] == 3
    assert "database_replica" not in body, "reported only with DATABASE_REPLICA_URL"


def test_a_real_server_answers_healthz(chat_server):
    with urllib.request.urlopen(f"{chat_server}/healthz", timeout=10) as response:
        body = json.load(response)
    assert body["database"] == "ok"
