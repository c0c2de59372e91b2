"""A Redis primary, a replica and three Sentinels as real processes on loopback ports, in a folder
of the test's own; `stop()` ends only these processes and removes the folder."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.addresses import free_port

MASTER = "helao"


def redis_server() -> str:
    program = shutil.which("redis-server")
    assert program, "redis-server is not installed"
    return program


class SentinelCluster:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "redis-ha"
        self.dir.mkdir()
        self.processes: dict[str, subprocess.Popen] = {}
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        try:
            self._server("primary", self.primary_port)
            self._server(
                "replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port)
            )
            self._until(
                lambda: (
                    self._client(self.replica_port).info("replication")["master_link_status"]
                    == "up"
                ),
                "the replica to sync",
            )
            for index, port in enumerate(self.sentinel_ports):
                self._sentinel(index, port)
            self._until(
                lambda: all(
                    self._client(port).sentinel_master(MASTER)["num-other-sentinels"] == 2
                    and self._client(port).sentinel_master(MASTER)["num-slaves"] == 1
                    for port in self.sentinel_ports
                ),
                "the Sentinels to find each other and the replica",
            )
        except BaseException:
            self.stop()
            raise

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for the application."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def _server(self, name: str, port: int, *extra: str) -> None:
        data = self.dir / name
        data.mkdir()
        self._start(
            name,
            [
                redis_server(),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", str(data),
                "--save", "",
                "--appendonly", "no",
                *extra,
            ],
        )  # fmt: skip
        self._until(lambda: self._client(port).ping(), f"redis {name}")

    def _sentinel(self, index: int, port: int) -> None:
        config = self.dir / f"sentinel-{index}.conf"
        config.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        self._start(f"sentinel-{index}", [redis_server(), str(config), "--sentinel"])
        self._until(lambda: self._client(port).ping(), f"sentinel {index}")

    @staticmethod
    def _client(port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)

    @staticmethod
    def _until(condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (redis.RedisError, OSError, KeyError):
                pass
            assert time.monotonic() < deadline, f"waited too long for {what}"
            time.sleep(0.1)

    def master_port(self) -> int:
        """The primary's port as the Sentinels name it now."""
        return int(self._client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER)[1])

    def kill_primary(self) -> float:
        """Kills the primary (SIGKILL); returns the seconds until the Sentinels name the replica
        and it accepts writes."""
        started = time.monotonic()
        process = self.processes.pop("primary")
        process.kill()
        process.wait(5)

        def promoted() -> bool:
            return (
                all(
                    int(self._client(p).sentinel_get_master_addr_by_name(MASTER)[1])
                    == self.replica_port
                    for p in self.sentinel_ports
                )
                and self._client(self.replica_port).info("replication")["role"] == "master"
            )

        self._until(promoted, "the failover", timeout=60)
        return time.monotonic() - started

    def client(self) -> redis.Redis:
        return self._client(self.master_port())

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
