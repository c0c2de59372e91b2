"""Container healthcheck for the web service: GET /healthz, healthy on HTTP 200.

Run inside the web container (`python deploy/healthcheck.py`). It uses only the standard library
and does not import Django, so a check costs milliseconds, not a second of CPU.

The request carries a Host from ALLOWED_HOSTS (Django refuses any other) and says it came over
HTTPS, because in production only nginx talks to Daphne and it always does. /healthz answers 200
for "ok" and "degraded" (a late purge must not take the web service down) and 503 for "error".
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
from urllib.parse import urlsplit


def health_host(allowed_hosts: str) -> str:
    """A concrete host name Django accepts: the first of ALLOWED_HOSTS that is not a wildcard."""
    for entry in allowed_hosts.split(","):
        entry = entry.strip()
        if entry == "*":
            continue
        if entry.startswith("."):
            # ".example.org" allows the domain and every subdomain.
            return entry[1:]
        if entry:
            return entry
    return "localhost"


def check(url: str, host: str, timeout: float) -> tuple[bool, str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request(
            "GET",
            parts.path or "/healthz",
            headers={"Host": host, "X-Forwarded-Proto": "https", "Accept": "application/json"},
        )
        response = conn.getresponse()
        body = response.read(2048).decode("utf-8", "replace")
    except OSError as exc:
        return False, f"{url}: {exc}"
    finally:
        conn.close()
    return response.status == 200, f"{url}: HTTP {response.status} {body}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/healthz")
    parser.add_argument("--timeout", type=float, default=8.0)
    args = parser.parse_args(argv)
    host = health_host(os.environ.get("ALLOWED_HOSTS", "localhost"))
    ok, detail = check(args.url, host, args.timeout)
    print(detail[:500])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
