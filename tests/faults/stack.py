"""A real Daphne process on its own PostgreSQL database, reaching PostgreSQL and Redis through
proxies the test can cut. Used by the outage tests."""

from __future__ import annotations

import http.cookiejar
import itertools
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg

from tests.addresses import PG_ADMIN, PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT, free_port, pg_url

from .proxy import CuttableProxy

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "demo-password-change-me"

#: Numbers the stacks a test process starts (each gets its own Redis key prefix).
_STACKS = itertools.count(1)


class Stack:
    def __init__(
        self,
        tmp: Path,
        env: dict[str, str] | None = None,
        *,
        database: tuple[str, str] | None = None,
        process_env: list[dict[str, str]] | None = None,
        roots: list[Path] | None = None,
    ) -> None:
        """`database`: (an admin URL, a function of the database name giving DATABASE_URL) for a
        PostgreSQL server of the test's own instead of the proxied shared one. `{db}` in a value
        of `env` is the test database's name. `process_env`: settings of each Daphne process of
        its own, on top of `env`. `roots`: the code each Daphne process runs (a checkout of
        another commit; default this one's). The database is always migrated by this one."""
        self.db = f"helao_faults_{os.getpid()}"
        self.pg = CuttableProxy(PG_PORT, PG_HOST)
        self.redis = CuttableProxy(REDIS_PORT, REDIS_HOST)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url, self.database_url = database if database else (PG_ADMIN, pg_url(self.db))
        if database:
            self.database_url = self.database_url.format(db=self.db)
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DATABASE_URL": (
                self.database_url
                if database
                else pg_url(self.db, host="127.0.0.1", port=self.pg.port)
            ),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            # Its own prefix: rate-limit counters in Redis (per address, per hour) do not carry
            # over from one test's stack to the next.
            "CHANNEL_PREFIX": f"helao-faults-{os.getpid()}-{next(_STACKS)}",
            "HELAO_VAR_DIR": str(tmp),
            "DJANGO_SETTINGS_MODULE": "helao_chat.settings",
            **{k: v.replace("{db}", self.db) for k, v in (env or {}).items()},
        }
        self.process_env = process_env or [{}, {}]
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.db}"')
            c.execute(f'CREATE DATABASE "{self.db}"')
        for args in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
            subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                check=True,
                capture_output=True,
                timeout=120,
            )
        self.tmp = tmp
        self.ports = [self.port, free_port()]
        self.roots = roots or [ROOT] * len(self.ports)
        self.processes = [self._daphne(index) for index in range(len(self.ports))]
        for port in self.ports:
            self._wait_ready(port)

    @property
    def process(self) -> subprocess.Popen:
        return self.processes[0]

    def log(self, index: int) -> str:
        """What Daphne process `index` has written so far."""
        return (self.tmp / f"daphne-{self.ports[index]}.log").read_text()

    def _daphne(self, index: int) -> subprocess.Popen:
        port = self.ports[index]
        log = open(self.tmp / f"daphne-{port}.log", "a")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helao_chat.serve",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--access-log",
                "/dev/null",
                "--websocket-max-message-size",
                "262144",
                "helao_chat.asgi:application",
            ],
            # `-m` puts the working folder first on sys.path: the code of `roots[index]` runs.
            cwd=self.roots[index],
            env={**self.env, **self.process_env[index]},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self, port: int) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                return
            except Exception:
                time.sleep(0.3)
        raise RuntimeError(f"daphne on {port} did not start")

    def restart(self, index: int = 0, *, root: Path | None = None) -> None:
        """Stops one Daphne process and starts it again on the same port (with the code of
        `root` from then on, when given: a deploy)."""
        self._stop(self.processes[index])
        if root is not None:
            self.roots[index] = root
        self.processes[index] = self._daphne(index)
        self._wait_ready(self.ports[index])

    def kill(self, index: int) -> None:
        """Kills one Daphne process at once (SIGKILL), as a crash or the OOM killer would."""
        self.processes[index].kill()
        self.processes[index].wait(10)

    def start(self, index: int) -> None:
        """Starts a stopped Daphne process again on its port, as Docker's restart policy does."""
        assert self.processes[index].poll() is not None, "it is still running"
        self.processes[index] = self._daphne(index)
        self._wait_ready(self.ports[index])

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def login(self, username: str = "agent", port: int | None = None) -> str:
        """Logs in over HTTP like a browser and returns the Cookie header for the websocket."""
        base = f"http://127.0.0.1:{port or self.port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{base}/console/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": username, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            f"{self.url}/console/login/",
            data=data,
            headers={"Referer": f"{self.url}/console/login/"},
        )
        opener.open(request, timeout=10).close()
        # The console opens only after its guidance has been acknowledged once.
        page = opener.open(f"{base}/console/guidance/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        request = urllib.request.Request(
            f"{base}/console/guidance/",
            data=urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode(),
            headers={"Referer": f"{base}/console/guidance/"},
        )
        opener.open(request, timeout=10).close()
        return "; ".join(f"{c.name}={c.value}" for c in jar)

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            self._stop(process)
        self.pg.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.redis.close()
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

    def count(self, sql: str, *params) -> int:
        with psycopg.connect(self.database_url) as c:
            return c.execute(sql, params).fetchone()[0]


def frame(data) -> str:
    return json.dumps(data)
