"""The production topology as real processes: what docker-compose.yml runs, on this machine.

The commands are read from docker-compose.yml itself, with only what a container would supply
replaced (bind address and port, the beat's data folder, the node name that is the container's
host name). The settings are .env.example's with its placeholders filled in: production mode,
TLS behind a trusted proxy, PostgreSQL and Redis. The test plays nginx's part in the headers:
X-Forwarded-For with the visitor's address and X-Forwarded-Proto https, from 127.0.0.1, which
is the trusted proxy here.

One migrate, two Daphne processes, a Celery worker and beat. A visitor on Daphne #1 and an agent
on Daphne #2 chat both ways through Redis; then backdated conversations are inserted and beat,
through the worker, purges the expired ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
import yaml

from tests.addresses import PG_ADMIN, REDIS_URL, free_port, pg_url
from tests.deploy.test_compose import (
    BIN,
    COMPOSE,
    ENV_EXAMPLE,
    ROOT,
    command_of,
    healthcheck_argv,
    parse_env_file,
    production_env,
)

pytestmark = pytest.mark.services

VISITOR_IP = "203.0.113.50"
AGENT_IP = "198.51.100.20"
STARTUP_SECONDS = 90
PURGE_SECONDS = 30


class Processes:
    """Processes this test started, each in its own session so it can be stopped whole."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen]] = []

    def argv(self, argv: list[str]) -> list[str]:
        program = shutil.which(argv[0], path=self.env["PATH"])
        assert program, f"{argv[0]} is not installed"
        return [program, *argv[1:]]

    def run(self, name: str, argv: list[str], timeout: float = 300, **env: str) -> str:
        result = subprocess.run(
            self.argv(argv),
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        proc = subprocess.Popen(
            self.argv(argv),
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self.running:
            assert proc.poll() is None, f"{name} exited with {proc.returncode}:\n{self.log(name)}"

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop_all(self) -> None:
        for _, proc in self.running:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # The process and the children it forked (Celery's pool) share its session.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def host_argv(argv: list[str], *, port: int | None = None, var_dir: Path) -> list[str]:
    """A container's command with the container-only parts replaced for this machine."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in ("-b", "--bind"):
            out[i + 1] = "127.0.0.1"
        elif arg in ("-p", "--port") and port is not None:
            out[i + 1] = str(port)
    return [a.replace("/app/var", str(var_dir)) for a in out]


def proxy_headers(ip: str) -> dict[str, str]:
    """What nginx adds to every request it passes on."""
    return {"X-Forwarded-For": ip, "X-Real-IP": ip, "X-Forwarded-Proto": "https"}


def cookies_of(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def login_form(port: int, username: str, password: str):
    """Posts the console's login form as a browser would; returns the final response."""
    origin = f"https://127.0.0.1:{port}"
    conn = HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/console/login/", headers=proxy_headers(AGENT_IP))
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        csrf = cookies_of(response)["csrftoken"]
        form = urlencode({"csrfmiddlewaretoken": csrf, "username": username, "password": password})
        conn.request(
            "POST",
            "/console/login/",
            body=form,
            headers={
                **proxy_headers(AGENT_IP),
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf}",
                "Origin": origin,
                "Referer": f"{origin}/console/login/",
            },
        )
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


async def receive(ws, predicate, what: str, timeout: float = 15) -> dict:
    async def wait() -> dict:
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"no {what} within {timeout} s") from None


async def chat_across(visitor_port: int, agent_port: int, session: str) -> dict:
    """A visitor on one Daphne and an agent on the other talk both ways."""
    from websockets.asyncio.client import connect

    agent_origin = f"https://127.0.0.1:{agent_port}"
    visitor_origin = f"https://127.0.0.1:{visitor_port}"
    async with connect(
        f"ws://127.0.0.1:{agent_port}/ws/agent/",
        origin=agent_origin,
        additional_headers={**proxy_headers(AGENT_IP), "Cookie": f"sessionid={session}"},
        open_timeout=15,
    ) as agent:
        await agent.send(json.dumps({"type": "hello"}))
        welcome = await receive(agent, lambda f: f["type"] == "welcome", "agent welcome")
        me = welcome["me"]
        await agent.send(json.dumps({"type": "presence.set", "status": "online"}))
        await receive(
            agent,
            lambda f: f["type"] == "presence" and f["agent"]["presence"] == "online",
            "presence confirmation",
        )

        async with connect(
            f"ws://127.0.0.1:{visitor_port}/ws/visitor/",
            origin=visitor_origin,
            additional_headers={
                **proxy_headers(VISITOR_IP),
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
            },
            open_timeout=15,
        ) as visitor:
            await visitor.send(json.dumps({"type": "hello"}))
            hello = await receive(visitor, lambda f: f["type"] == "welcome", "visitor welcome")
            assert hello["agents_online"] is True
            await visitor.send(
                json.dumps(
                    {
                        "type": "conversation.start",
                        "text": "Hei, onko tilaa?",
                        "client_msg_id": "v1",
                    }
                )
            )
            started = await receive(
                visitor, lambda f: f["type"] == "conversation.started", "conversation.started"
            )
            conversation_id = started["conversation"]["id"]

            # Daphne #2 learns of the new chat from Daphne #1 only through Redis.
            queued = await receive(
                agent,
                lambda f: f["type"] == "queue.added" and f["conversation"]["id"] == conversation_id,
                "the new chat in the agent's queue",
            )
            await agent.send(
                json.dumps({"type": "conversation.claim", "conversation_id": conversation_id})
            )
            await receive(agent, lambda f: f["type"] == "conversation.claim.ok", "claim")
            await agent.send(
                json.dumps(
                    {
                        "type": "message.send",
                        "conversation_id": conversation_id,
                        "text": "Hei! Kyllä on.",
                        "client_msg_id": "a1",
                    }
                )
            )
            to_visitor = await receive(
                visitor,
                lambda f: f["type"] == "message.new" and f["message"]["sender"] == "agent",
                "the agent's message on the visitor's side",
            )
            await visitor.send(
                json.dumps({"type": "message.send", "text": "Kiitos!", "client_msg_id": "v2"})
            )
            to_agent = await receive(
                agent,
                lambda f: (
                    f["type"] == "message.new"
                    and f["message"]["sender"] == "visitor"
                    and f["message"]["text"] == "Kiitos!"
                ),
                "the visitor's message on the agent's side",
            )
    return {
        "conversation_id": conversation_id,
        "me": me,
        "queued": queued,
        "to_visitor": to_visitor,
        "to_agent": to_agent,
    }


def wait_until(condition, seconds: float, what: str, processes: Processes, step: float = 0.5):
    deadline = time.monotonic() + seconds
    while True:
        processes.check_alive()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(step)


def succeeds(processes: Processes, argv: list[str], **env: str) -> bool:
    try:
        processes.run("healthcheck", argv, timeout=60, **env)
    except AssertionError:
        return False
    return True


@pytest.fixture
def topology_database():
    name = f"helao_topology_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def channel_prefix():
    prefix = f"helao-topology-{os.getpid()}"
    yield prefix
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_compose_topology_chats_across_two_daphnes_and_purges_through_beat(
    topology_database, channel_prefix, tmp_path
):
    from agents.demo import DEMO_PASSWORD

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    node = f"topology-{os.getpid()}"
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = production_env(
        parse_env_file(ENV_EXAMPLE.read_text()),
        DATABASE_URL=topology_database,
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=channel_prefix,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS="",
        # Daphne sees the test's connections coming from here, as it would see nginx's.
        CHAT_TRUSTED_PROXIES="127.0.0.1",
        CHAT_PURGE_INTERVAL_SECONDS="2",
        HELAO_VAR_DIR=str(var_dir),
        HOSTNAME=node,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}"
    # STATICFILES_DIRS names static/; a checkout without any static file yet has no such folder.
    (ROOT / "static").mkdir(exist_ok=True)
    processes = Processes(env, tmp_path)
    try:
        # The migrate service, then the demo accounts (one agent) for this test.
        processes.run("migrate", command_of(services["migrate"]))
        processes.run("seed_demo", ["python", "manage.py", "seed_demo"])
        # The agent has read the console's guidance before (the console opens only after that).
        processes.run(
            "guidance",
            [
                "python",
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model as g; "
                "from agents.services import guidance_acknowledge as a; "
                "a(user=g().objects.get(username='agent'), actor_ip=None)",
            ],
        )

        ports = [free_port(), free_port()]
        web = command_of(services["web"])
        for i, port in enumerate(ports, start=1):
            processes.start(f"web{i}", host_argv(web, port=port, var_dir=var_dir))
        worker = [*command_of(services["worker"]), "--hostname", f"celery@{node}"]
        processes.start("worker", host_argv(worker, var_dir=var_dir))
        beat = [*command_of(services["beat"]), "--hostname", f"celerybeat@{node}"]
        processes.start("beat", host_argv(beat, var_dir=var_dir))

        # Every service's own healthcheck, as docker would run it.
        web_check = healthcheck_argv(services["web"]["healthcheck"]["test"])
        for port in ports:
            argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in web_check]
            wait_until(
                lambda argv=argv: succeeds(processes, argv),
                STARTUP_SECONDS,
                f"Daphne on port {port} healthy",
                processes,
            )
        for name in ("worker", "beat"):
            argv = healthcheck_argv(services[name]["healthcheck"]["test"])
            argv = [a.replace("$HOSTNAME", node) for a in argv if not a.startswith(">")]
            wait_until(
                lambda argv=argv: succeeds(processes, argv),
                STARTUP_SECONDS,
                f"{name} answering its healthcheck",
                processes,
            )

        # A wrong password is throttled by the agent's own address, not by the proxy's: a flood
        # of failures from one place must not lock everybody behind nginx out.
        failed = login_form(ports[1], "agent", "not-the-password")
        assert failed.status == 200
        with psycopg.connect(topology_database, autocommit=True) as db:
            attempts = db.execute(
                "SELECT host(ip_address), failures_since_start FROM axes_accessattempt "
                "WHERE username = 'agent'"
            ).fetchall()
        assert attempts == [(AGENT_IP, 1)]
        response = login_form(ports[1], "agent", DEMO_PASSWORD)
        assert response.status == 302, f"login answered {response.status}"
        assert response.headers["Location"].endswith("/console/")
        session = cookies_of(response)["sessionid"]
        chat = asyncio.run(chat_across(ports[0], ports[1], session))
        assert chat["queued"]["conversation"]["id"] == chat["conversation_id"]
        assert chat["to_visitor"]["message"]["text"] == "Hei! Kyllä on."
        assert chat["to_visitor"]["message"]["author_name"] == "Aino Asiakaspalvelija"
        assert chat["to_visitor"]["message"]["author_name"] == chat["me"]["name"]
        assert chat["to_agent"]["message"]["conversation_id"] == chat["conversation_id"]

        with psycopg.connect(topology_database, autocommit=True) as db:

            def scalar(sql: str, *params):
                return db.execute(sql, params).fetchone()[0]

            # The visitor's address came through the trusted proxy's header, not the peer's.
            recorded = scalar(
                "SELECT ip_address FROM chat_visitorconnection WHERE conversation_id = %s",
                chat["conversation_id"],
            )
            assert str(recorded) == VISITOR_IP

            seeded_at = scalar("SELECT now()")
            backdated = ["--conversations", "40", "--days", "400", "--no-accounts"]
            processes.run("seed_demo", ["python", "manage.py", "seed_demo", *backdated])
            # Spread over 400 days, most of them are past the 3 months; the purge may already
            # be at work, so only the ones it must keep are counted now.
            count = "SELECT count(*) FROM chat_conversation WHERE last_activity_at {} now() - %s"
            recent = scalar(count.format(">"), timedelta(days=80))
            assert recent > 1

            def purged():
                runs = db.execute(
                    "SELECT deleted FROM chat_retentionrun WHERE succeeded AND NOT dry_run "
                    "AND started_at >= %s",
                    (seeded_at,),
                ).fetchall()
                deleted = sum(int(r[0].get("chat.conversation", 0)) for r in runs)
                left = scalar(count.format("<"), timedelta(days=100))
                return deleted if deleted and not left else None

            deleted = wait_until(purged, PURGE_SECONDS, "the scheduled purge", processes)
            assert scalar("SELECT count(*) FROM chat_conversation") == 40 + 1 - deleted
            assert (
                scalar(
                    "SELECT count(*) FROM chat_message WHERE created_at < now() - %s",
                    timedelta(days=100),
                )
                == 0
            )
            # Nothing within the retention period went, neither the live chat nor recent ones.
            assert scalar(count.format(">"), timedelta(days=80)) == recent
            assert scalar(
                "SELECT count(*) FROM chat_conversation WHERE id = %s", chat["conversation_id"]
            )
        processes.check_alive()
    except AssertionError as failure:
        logs = "\n".join(f"--- {name} ---\n{processes.log(name)}" for name, _ in processes.running)
        raise AssertionError(f"{failure}\n{logs}") from failure
    finally:
        processes.stop_all()
