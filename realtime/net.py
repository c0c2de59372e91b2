"""Client address and origin checks for HTTP requests and websocket scopes."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(
    peer: str | None, forwarded_for: str | None, real_ip: str | None = None
) -> str | None:
    """The visitor's address: the peer's, unless the peer is a trusted proxy.

    Only a proxy listed in CHAT_TRUSTED_PROXIES may name the client; then the right-most address
    in X-Forwarded-For that is not itself a trusted proxy is taken (the left ones are client-sent
    and spoofable). X-Real-IP, set by our nginx, is used when X-Forwarded-For is absent.
    """
    trusted = set(settings.CHAT_TRUSTED_PROXIES)
    peer_ip = _valid_ip(peer) if peer else None
    if peer_ip is None or peer_ip not in trusted:
        return peer_ip
    if forwarded_for:
        for hop in reversed(forwarded_for.split(",")):
            ip = _valid_ip(hop)
            if ip is None:
                break
            if ip not in trusted:
                return ip
    if real_ip:
        return _valid_ip(real_ip) or peer_ip
    return peer_ip


# A socket's checks read its headers and its client's address several times on the way in (the
# origin, the address's slot, the connection's record): each is worked out once and kept in the
# scope under these keys.
_HEADERS = "helao_chat.headers"
_CLIENT_IP = "helao_chat.client_ip"


def scope_headers(scope: dict) -> dict[str, str]:
    """The request's headers by lower-case name (read only: the dict is kept in the scope)."""
    found = scope.get(_HEADERS)
    if found is None:
        found = scope[_HEADERS] = {
            k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])
        }
    return found


def scope_client_ip(scope: dict) -> str | None:
    if _CLIENT_IP in scope:
        return scope[_CLIENT_IP]
    headers = scope_headers(scope)
    peer = (scope.get("client") or [None])[0]
    found = client_ip(peer, headers.get("x-forwarded-for"), headers.get("x-real-ip"))
    scope[_CLIENT_IP] = found
    return found


def request_client_ip(request) -> str | None:
    return client_ip(
        request.META.get("REMOTE_ADDR"),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        request.META.get("HTTP_X_REAL_IP"),
    )


_HOST = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+")


def normalise_origin(value: str, *, exact: bool = False) -> str | None:
    """`scheme://host[:port]` with default ports dropped, or None for anything else.

    `exact` is for an Origin header: a browser sends the bare serialisation, so one with any
    path, even a lone "/", is not a browser's and is refused. Configured origins may end in "/".
    """
    if not value or value == "null":
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    if exact and (parts.path or value.endswith(("?", "#"))):
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    # A name or an address, nothing else: an origin ends up in headers such as a CSP.
    if not _HOST.fullmatch(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def own_origin(request) -> str | None:
    """This server's origin as the request reached it (behind the trusted proxy's scheme)."""
    return normalise_origin(request.build_absolute_uri("/"))


def same_origin_request(request) -> bool:
    """The request's `Origin` header (sent by browsers on every POST) is this server's own."""
    origin = normalise_origin(request.headers.get("Origin", ""), exact=True)
    return origin is not None and origin == own_origin(request)


def embed_origins() -> set[str]:
    return {o for o in (normalise_origin(x) for x in settings.CHAT_EMBED_ORIGINS) if o}
