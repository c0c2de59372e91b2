"""The shipped nginx configuration (deploy/nginx/nginx.conf), run on loopback in front of the
test's Daphne processes.

Only what a container would supply differently is replaced, each replacement checked to match
exactly once so that a change to the shipped file cannot leave the test running something else:
the upstream's servers (Docker's DNS name -> the test's ports), the listening ports, the
certificate (a self-signed one made here), the pid file and the user. Everything that matters
for a restart (the upstream block, the /ws/ and / locations, their headers and timeouts) is the
shipped text.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.addresses import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "nginx" / "nginx.conf"


def nginx_binary() -> str:
    program = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    assert program, "nginx is not installed (.ci/run installs Debian's nginx)"
    return program


def nginx_version(program: str) -> tuple[int, ...]:
    out = subprocess.run([program, "-v"], capture_output=True, text=True).stderr
    return tuple(int(x) for x in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out).groups())


def render(
    text: str,
    *,
    upstreams: list[int],
    https_port: int,
    http_port: int,
    health_port: int,
    tmp: Path,
    version: tuple[int, ...],
) -> str:
    def replace(old: str, new: str) -> None:
        nonlocal text
        assert text.count(old) == 1, f"the shipped nginx.conf no longer has {old!r} once"
        text = text.replace(old, new)

    # A root master needs a user that exists; any other user runs everything as itself.
    replace("user nginx;", "user root;" if os.geteuid() == 0 else "")
    replace("pid /tmp/nginx.pid;", f"pid {tmp / 'nginx.pid'};")
    replace("resolver 127.0.0.11 valid=10s ipv6=off;", "")
    replace(
        "server web:8000 resolve max_fails=0;",
        " ".join(f"server 127.0.0.1:{port} max_fails=0;" for port in upstreams),
    )
    replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{health_port};")
    replace("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;")
    replace("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;")
    replace("/etc/nginx/certs/fullchain.pem", str(tmp / "fullchain.pem"))
    replace("/etc/nginx/certs/privkey.pem", str(tmp / "privkey.pem"))
    if version < (1, 25, 1):
        # `http2 on;` is newer than Debian 12's nginx 1.22 (which has `listen ... http2`);
        # websockets use HTTP/1.1 either way.
        replace("http2 on;", "")
    temp = "\n".join(
        f"    {name}_temp_path {tmp / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    replace("http {\n", "http {\n" + temp + "\n")
    return text


class Nginx:
    """nginx with the shipped configuration, proxying to `upstreams` (ports on 127.0.0.1)."""

    def __init__(self, tmp: Path, upstreams: list[int], *, port: int | None = None) -> None:
        self.tmp = tmp / "nginx"
        self.tmp.mkdir()
        program = nginx_binary()
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(self.tmp / "privkey.pem"),
                "-out",
                str(self.tmp / "fullchain.pem"),
            ],
            check=True,
            capture_output=True,
        )
        self.port = port or free_port()
        self.health_port = free_port()
        config = render(
            SHIPPED.read_text(),
            upstreams=upstreams,
            https_port=self.port,
            http_port=free_port(),
            health_port=self.health_port,
            tmp=self.tmp,
            version=nginx_version(program),
        )
        (self.tmp / "nginx.conf").write_text(config)
        self.log = open(self.tmp / "nginx.log", "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                program,
                "-p",
                str(self.tmp),
                "-e",
                str(self.tmp / "error.log"),
                "-c",
                str(self.tmp / "nginx.conf"),
                "-g",
                "daemon off;",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while True:
            try:
                url = f"http://127.0.0.1:{self.health_port}/nginx-health"
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert self.process.poll() is None, (self.tmp / "nginx.log").read_text()
                assert time.time() < deadline, "nginx did not start"
                time.sleep(0.2)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"wss://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def behind_nginx(
    tmp: Path, env: dict[str, str] | None = None, **stack: Any
) -> Iterator[tuple[Any, Nginx]]:
    """Two Daphne processes (a `Stack`, given `stack` as further arguments) behind the shipped
    nginx on an HTTPS port of its own, with limits high enough for numbered chats; stops both
    however the test ends."""
    from .stack import Stack

    https_port = free_port()
    stack = Stack(
        tmp,
        env={
            # nginx is the trusted proxy; its X-Forwarded-Proto says the page is https.
            "CHAT_TRUSTED_PROXIES": "127.0.0.1",
            "CHAT_EMBED_ORIGINS": f"https://127.0.0.1:{https_port}",
            "CHAT_MESSAGES_PER_MINUTE": "100000",
            "CHAT_MESSAGES_PER_MINUTE_PER_IP": "100000",
            "CHAT_FRAMES_PER_MINUTE": "100000",
            **(env or {}),
        },
        **stack,
    )
    try:
        nginx = Nginx(tmp, stack.ports, port=https_port)
    except BaseException:
        stack.stop()
        raise
    try:
        yield stack, nginx
    finally:
        nginx.stop()
        stack.stop()


async def open_chats_behind(nginx: Nginx, cookie: str, count: int) -> Any:
    """`numbered.open_chats` with every socket through nginx."""
    from .numbered import insecure_tls, open_chats

    return await open_chats(
        count=count,
        visitor_url=lambda: nginx.ws_url("/ws/visitor/"),
        agent_url=lambda: nginx.ws_url("/ws/agent/"),
        origin=nginx.origin,
        cookie=cookie,
        tls=insecure_tls(),
    )
