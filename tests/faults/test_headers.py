"""Security headers and origin checks on both websockets."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.conftest import agent_communicator

pytestmark = pytest.mark.django_db


def _csp(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


@pytest.mark.parametrize("url", ["/console/login/", "/healthz", "/demo/"])
def test_pages_carry_a_csp_without_inline_script_and_no_framing(client, url):
    response = client.get(url)
    csp = _csp(response)
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_hsts_is_sent_behind_tls(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/console/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "",
        "http://testserver.evil.example",
        "http://evil-testserver",
        "https://testserver",
        "http://testserver:8443",
    ],
)
async def test_the_agent_socket_refuses_foreign_origins(alice, origin):
    comm = await database_sync_to_async(agent_communicator)(alice, origin=origin)
    connected, _ = await comm.connect()
    assert not connected
