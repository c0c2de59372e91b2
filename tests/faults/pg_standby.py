"""A PostgreSQL primary and a streaming standby made with pg_basebackup, as real processes on
loopback ports, with data folders of their own; `stop()` stops only these two servers and
removes the folders.

PostgreSQL refuses to run as root: as root, the servers run as the `postgres` user (runuser),
in a folder that user owns (the test's tmp folder is private to root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.addresses import free_port


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    program = found[-1] if found else shutil.which(name)
    assert program, f"{name} is not installed"
    return program


class PostgresPair:
    def __init__(self, *, synchronous: bool = True) -> None:
        self.synchronous = synchronous
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="helao-pg-ha-"))
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.primary_port = free_port()
        self.standby_port = free_port()
        self.running: set[str] = set()
        try:
            self._run(pg_bin("initdb"), "-D", self._data("primary"), "-A", "trust",
                      "-U", "postgres", "--no-sync", "-E", "UTF8")  # fmt: skip
            self._start("primary", self.primary_port)
            self._run(pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
                      "-U", "postgres", "-D", self._data("standby"),
                      "-R", "-X", "stream")  # fmt: skip
            self._start("standby", self.standby_port)
            with psycopg.connect(self.url("postgres", self.standby_port)) as c:
                assert c.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        except BaseException:
            self.stop()
            raise

    def _data(self, name: str) -> str:
        return str(self.dir / name)

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def _start(self, name: str, port: int) -> None:
        options = (
            f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c wal_level=replica -c max_connections=200"
        )
        if name == "primary" and self.synchronous:
            # A commit returns once the standby has it: with asynchronous replication, messages
            # acknowledged in the last moment before a crash may be missing after the promotion.
            # Not on the standby: promoted and alone, it would wait for a standby forever.
            options += " -c synchronous_standby_names=*"
        self._run(pg_bin("pg_ctl"), "-D", self._data(name), "-l", str(self.dir / f"{name}.log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        self.running.add(name)

    @staticmethod
    def url(database: str, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def multi_host_url(self, database: str) -> str:
        """DATABASE_URL naming both servers; libpq takes the one that accepts writes."""
        return (
            f"postgres://postgres@127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}"
            f"/{database}?target_session_attrs=read-write&connect_timeout=3"
        )

    def wait_replicated(self, database: str) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.url(database, self.primary_port), autocommit=True) as c:
            lsn = c.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + 30
        with psycopg.connect(self.url(database, self.standby_port), autocommit=True) as c:
            while not c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[
                0
            ]:
                assert time.monotonic() < deadline, "the standby did not catch up"
                time.sleep(0.1)

    def fail_over(self) -> float:
        """Stops the primary at once (as a crash would) and promotes the standby; returns the
        seconds until the standby accepts writes."""
        started = time.monotonic()
        self._run(pg_bin("pg_ctl"), "-D", self._data("primary"), "-m", "immediate", "stop")
        self.running.discard("primary")
        self._run(pg_bin("pg_ctl"), "-D", self._data("standby"), "-w", "promote")
        with psycopg.connect(self.url("postgres", self.standby_port)) as c:
            assert not c.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        return time.monotonic() - started

    def stop_standby(self) -> None:
        """Stops the standby at once, as a crash of its host would."""
        self._run(pg_bin("pg_ctl"), "-D", self._data("standby"), "-m", "immediate", "stop")
        self.running.discard("standby")

    def stop(self) -> None:
        for name in list(self.running):
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(pg_bin("pg_ctl"), "-D", self._data(name), "-m", "fast", "-w", "stop")
            self.running.discard(name)
        shutil.rmtree(self.dir, ignore_errors=True)
