"""Setting up the product for measurement: its own database, agents, sessions and Daphne."""

from __future__ import annotations

import gzip
import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from typing import Any

from .common import (
    BIN,
    PG,
    PYTHON,
    REDIS_URL,
    ROOT,
    Server,
    daphne_args,
    delete_redis_keys,
    ensure_database,
)

# A checkout of its own may bench beside another: BENCH_DB / BENCH_PREFIX move it aside.
DB_NAME = os.environ.get("BENCH_DB", "helao_bench")
PREFIX = os.environ.get("BENCH_PREFIX", "helao-bench")
DEMO_PASSWORD = "demo-password-change-me"  # printed by seed_demo in DEBUG; loopback only
HIGH = "100000000"


# A throwaway key for the benchmark's own server; production refuses weak or default keys.
BENCH_SECRET = secrets.token_urlsafe(48)


def env() -> dict[str, str]:
    return {
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "CHANNEL_PREFIX": PREFIX,
        "DJANGO_SETTINGS_MODULE": "helao_chat.settings",
        # Production mode: DEBUG would log every query (CPU per query, memory per connection).
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": BENCH_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "USE_TLS": "0",
        "LOG_LEVEL": "WARNING",
        "CHAT_MESSAGES_PER_MINUTE": HIGH,
        "CHAT_MESSAGES_PER_MINUTE_PER_IP": HIGH,
        "CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP": HIGH,
        "CHAT_MAX_CONNECTIONS_PER_IP": HIGH,
        "CHAT_FRAMES_PER_MINUTE": HIGH,
        "HELAO_VAR_DIR": str(ROOT / "var" / "bench"),
    }


def _manage(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env={**__import__("os").environ, **env()},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed: {proc.stderr[-800:]}")
    return proc.stdout


SETUP_SCRIPT = """
import json
from django.core.management import call_command
from django.contrib.auth import get_user_model, BACKEND_SESSION_KEY, SESSION_KEY, HASH_SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
call_command("migrate", interactive=False, verbosity=0)
call_command("seed_demo")
User = get_user_model()
group = Group.objects.get(name="Agent")
keys = []
for i in range(%d):
    user, created = User.objects.get_or_create(
        username=f"bench-agent-{i:03d}", defaults={"first_name": "Bench", "last_name": f"Agent {i}"}
    )
    user.groups.add(group)
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    keys.append(s.session_key)
# Every benchmark agent has read the console's guidance (the console opens only after that).
from agents.services import guidance_acknowledge
for user in User.objects.filter(groups=group):
    guidance_acknowledge(user=user, actor_ip=None)
print(json.dumps(keys))
"""


def prepare_database(extra_agents: int) -> list[str]:
    """The `helao_bench` database, migrated and seeded; returns session cookies of agents.

    It is kept between runs (migrating from scratch takes longer than a quick run may); what
    earlier runs stored in it does not change the message path. `migrate`, `seed_demo` and the
    sessions run in one `manage.py shell` so that Django starts once. The demo agent logs in
    over HTTP later (the real path); the other benchmark agents get sessions created directly,
    as `force_login` would, because every HTTP login hashes a password (~0.3 s of CPU) and that
    is not what is being measured.
    """
    delete_redis_keys(PREFIX)
    cached = _PREPARED.get("cookies")
    if cached and len(cached) >= extra_agents and time.monotonic() - _PREPARED["at"] < 300:
        return cached  # prepared by a step a few minutes ago: migrated, sessions still fresh
    ensure_database(DB_NAME)
    # Production mode serves hashed static files from STATIC_ROOT.
    _manage("collectstatic", "--noinput", "-v0")
    out = _manage("shell", "-c", SETUP_SCRIPT % extra_agents)
    keys = json.loads(out.strip().splitlines()[-1])
    cookies = [f"sessionid={k}" for k in keys]
    _PREPARED.update(cookies=cookies, at=time.monotonic())
    return cookies


_PREPARED: dict[str, Any] = {}


def daphne(port: int, name: str = "product") -> Server:
    return Server(
        name, [str(BIN / "python"), "-m", "helao_chat.serve", *daphne_args(port)], env(), port
    )


# --- HTTP: login and page sizes -----------------------------------------------------------------


def _opener() -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def login(origin: str, username: str = "agent", password: str = DEMO_PASSWORD) -> tuple[Any, str]:
    """Logs in through /console/login/ with its CSRF token; returns (opener, cookie header)."""
    opener, jar = _opener()
    page = opener.open(f"{origin}/console/login/", timeout=20).read().decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not match:
        raise RuntimeError("login page has no CSRF token")
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password}
    ).encode()
    req = urllib.request.Request(
        f"{origin}/console/login/", data=data, headers={"Referer": f"{origin}/console/login/"}
    )
    opener.open(req, timeout=20).read()
    session = next((c.value for c in jar if c.name == "sessionid"), None)
    if not session:
        raise RuntimeError("login did not set a session cookie (wrong password or locked out?)")
    return opener, f"sessionid={session}"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.refs.append(a["src"])
        elif (
            tag == "link"
            and a.get("href")
            and (a.get("rel") or "")
            in (
                "stylesheet",
                "modulepreload",
                "preload",
                "icon",
            )
        ):
            self.refs.append(a["href"])
        elif tag in ("img", "iframe") and a.get("src") and not a["src"].startswith("data:"):
            self.refs.append(a["src"])


_IMPORT = re.compile(
    r"""(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]"""
)


def _gz(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=9, mtime=0))


def page_weight(opener, origin: str, path: str) -> dict[str, Any]:
    """gzip -9 bytes of a page and every same-origin script, style, image and ES-module import."""
    files: dict[str, int] = {}
    missing: list[str] = []
    seen: set[str] = set()
    queue = [urllib.parse.urljoin(origin + "/", path.lstrip("/"))]
    first = True
    while queue and len(seen) < 60:
        url = queue.pop(0)
        if url in seen or not url.startswith(origin):
            continue
        seen.add(url)
        try:
            resp = opener.open(url, timeout=20)
            body = resp.read()
            ctype = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if first:
                return {"gzip_bytes": None, "reason": f"{path} answered HTTP {exc.code}"}
            missing.append(f"{url[len(origin) :]} ({exc.code})")
            continue
        first = False
        files[url[len(origin) :]] = _gz(body)
        text = body.decode("utf-8", "replace")
        if "html" in ctype:
            parser = _Refs()
            parser.feed(text)
            queue += [urllib.parse.urljoin(url, r) for r in parser.refs]
        elif "javascript" in ctype or url.endswith((".js", ".mjs")):
            for a, b in _IMPORT.findall(text):
                queue.append(urllib.parse.urljoin(url, a or b))
        elif "css" in ctype:
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
                if not ref.startswith("data:"):
                    queue.append(urllib.parse.urljoin(url, ref))
    return {"gzip_bytes": sum(files.values()), "files": files, "missing": missing}


def sizes(origin: str) -> dict[str, Any]:
    opener, _ = _opener()
    out = {
        "widget_loader": page_weight(opener, origin, "/widget.js"),
        "widget_panel": page_weight(opener, origin, "/widget/panel/"),
    }
    try:
        agent_opener, _ = login(origin, "agent2")
        out["console"] = page_weight(agent_opener, origin, "/console/")
    except Exception as exc:
        out["console"] = {"gzip_bytes": None, "reason": f"login failed: {exc}"}
    return out


CLOSE_OPEN_SCRIPT = """
from django.utils import timezone
from chat.models import Conversation
n = Conversation.objects.exclude(status=Conversation.Status.CLOSED).update(
    status=Conversation.Status.CLOSED, closed_at=timezone.now()
)
print(n)
"""


def close_open_conversations() -> int:
    """Ends every chat a previous step (or run) left open in the benchmark's own database.

    The starts ramp leaves thousands of waiting chats and the storm thousands of active ones;
    left open, they would be every later console's queue and chat list. Returns how many."""
    return int(_manage("shell", "-c", CLOSE_OPEN_SCRIPT).strip().splitlines()[-1])
