"""Shared plumbing: ports, child servers (started and stopped by PID), databases, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
LOG_DIR = ROOT / "var" / "bench"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PORT_RANGE = range(18000, 18100)

_used_ports: set[int] = set()


def daphne_args(port: int) -> list[str]:
    """Daphne's arguments for the product as the benchmark serves it (access log off)."""
    return [
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "--websocket-max-message-size",
        "262144",
        "--access-log",
        "/dev/null",
        "helao_chat.asgi:application",
    ]


def free_port() -> int:
    """A port in 18000-18099 that nothing listens on and this run has not handed out yet."""
    for port in PORT_RANGE:
        if port in _used_ports:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port in 18000-18099")


def raise_fd_limit(want: int = 20000) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Measured:
    """CPU time and RSS of the process `pid` (psutil): a child server, or one named by PID."""

    pid: int

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.pid).cpu_times()
        return t.user + t.system

    def rss_bytes(self) -> int:
        return psutil.Process(self.pid).memory_info().rss


class Process(Measured):
    def __init__(self, pid: int) -> None:
        self.pid = pid


class Server(Measured):
    """A child server process. Only this PID is ever signalled, and always in `stop()`."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.port = port
        self.proc: subprocess.Popen | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}-{port}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, close_fds=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port}: {self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, grace: float = 8) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=5)

    def error_lines(self, needles: tuple[str, ...] = ("Traceback", "Error", "Exception")) -> int:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if any(n in line for n in needles))


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(f"{PG}/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_keys(prefix: str) -> None:
    """Removes only this benchmark's own keys (never FLUSHDB: the server is shared)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()


def machine() -> dict[str, str]:
    model, cores = "", 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                cores += 1
    mem = psutil.virtual_memory()
    versions = {}
    for mod in ("django", "channels", "channels_redis", "daphne", "websockets", "psycopg", "redis"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    pg = redis_v = "?"
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(f"{PG}/postgres") as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    with contextlib.suppress(Exception):
        import redis

        c = redis.Redis.from_url(REDIS_URL)
        redis_v = c.info("server")["redis_version"]
        c.close()
    try:
        free = subprocess.run(["free", "-m"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        free = ""
    return {
        "cpu": f"{model} × {cores} logical CPUs",
        "memory": f"{mem.total / 2**30:.1f} GiB total, {mem.available / 2**30:.1f} GiB available",
        "free": free.strip(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "postgresql": pg,
        "redis": redis_v,
    }


def commit_probe(dbname: str, n: int = 100) -> dict[str, float]:
    """Wall time of a raw psycopg INSERT + COMMIT on this machine now (fsync and load bound)."""
    import psycopg

    times = []
    with psycopg.connect(f"{PG}/{dbname}") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_probe (id bigserial, t text)")
        conn.commit()
        for _ in range(n):
            t = time.perf_counter()
            conn.execute("INSERT INTO bench_probe (t) VALUES ('probe')")
            conn.commit()
            times.append((time.perf_counter() - t) * 1000)
        conn.execute("DROP TABLE bench_probe")
        conn.commit()
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
    times.sort()
    return {
        "median_ms": round(times[len(times) // 2], 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "synchronous_commit": sync,
    }
