"""A socket's headers and client address, read from its scope once."""

from __future__ import annotations

from realtime.net import client_ip, scope_client_ip, scope_headers


def _scope(**extra) -> dict:
    return {
        "type": "websocket",
        "client": ["10.0.0.5", 50000],
        "headers": [
            (b"Host", b"chat.example.org"),
            (b"Origin", b"https://chat.example.org"),
            (b"X-Forwarded-For", b"198.51.100.7, 10.0.0.9"),
        ],
        **extra,
    }


def test_headers_by_lower_case_name_worked_out_once_per_scope():
    scope = _scope()
    headers = scope_headers(scope)
    assert headers["host"] == "chat.example.org"
    assert headers["origin"] == "https://chat.example.org"
    scope["headers"] = []  # kept: the scope's headers do not change while it lives
    assert scope_headers(scope) is headers
    assert scope_headers(_scope(headers=[])) == {}


def test_the_client_address_is_the_peers_unless_a_trusted_proxy_names_another(settings):
    settings.CHAT_TRUSTED_PROXIES = []
    assert scope_client_ip(_scope()) == "10.0.0.5"
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.5", "10.0.0.9"]
    scope = _scope()
    assert scope_client_ip(scope) == "198.51.100.7"
    assert scope_client_ip(scope) == "198.51.100.7"
    assert scope_client_ip(_scope(client=None)) is None
    # The same rule as for HTTP requests.
    assert client_ip("10.0.0.5", "198.51.100.7, 10.0.0.9") == "198.51.100.7"
    assert client_ip("10.0.0.5", None, "203.0.113.4") == "203.0.113.4"
    assert client_ip("not-an-address", None) is None
