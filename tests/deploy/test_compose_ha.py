"""docker-compose.yml's `ha` profile, checked without a docker engine: the services it adds,
their settings against .env.example and the application's settings, the files they mount, and
the Sentinel start script run for real against a local redis-server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml

from tests.addresses import free_port

from .test_compose import ENV_EXAMPLE, ROOT, interpolate, nginx_directives, parse_env_file

HA = {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3", "postgres-standby", "web-2"}
SENTINEL_SCRIPT = ROOT / "deploy" / "redis" / "sentinel.sh"


@pytest.fixture(scope="module")
def compose() -> dict:
    with (ROOT / "docker-compose.yml").open() as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text())


def commented(name: str) -> str:
    """The value of `# NAME=value` in .env.example: the settings an ha deployment turns on."""
    match = re.search(rf"^#\s*{name}=(\S*)$", ENV_EXAMPLE.read_text(), re.M)
    assert match, f".env.example shows no {name} for the ha profile"
    return match.group(1)


def test_the_ha_profile_adds_sentinels_a_replica_a_standby_and_a_second_daphne(compose):
    services = compose["services"]
    in_profile = {name for name, s in services.items() if "ha" in s.get("profiles", [])}
    assert in_profile == HA
    # Without the profile, nothing changes: no other service belongs to any profile.
    assert all("profiles" not in s for name, s in services.items() if name not in HA)
    for name in HA:
        assert "healthcheck" in services[name], name
        assert services[name].get("restart") == "unless-stopped", name


def test_every_file_the_services_mount_is_in_the_project(compose):
    mounted = []
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                mounted.append(source)
                if source != "./deploy/certs" and source != "./deploy/acme":
                    assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"
    assert "./deploy/redis/sentinel.sh" in mounted
    assert "./deploy/postgres/standby.sh" in mounted
    assert "./deploy/postgres/pg_hba.conf" in mounted
    assert "./deploy/postgres/initdb" in mounted
    for script in (*ROOT.glob("deploy/**/*.sh"),):
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_three_sentinels_watch_the_primary_the_application_names(compose, env_example):
    services = compose["services"]
    sentinels = [f"sentinel-{i}" for i in (1, 2, 3)]
    volumes = set()
    for name in sentinels:
        service = services[name]
        env = service["environment"]
        assert env["SENTINEL_ANNOUNCE"] == name, "each announces the name the others reach it by"
        assert (
            interpolate(env["SENTINEL_MASTER"], env_example) == env_example["REDIS_SENTINEL_MASTER"]
        )
        assert env["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD")
        assert service["command"] == ["sh", "/etc/helao/sentinel.sh"]
        assert "./deploy/redis/sentinel.sh:/etc/helao/sentinel.sh:ro" in service["volumes"]
        volumes |= {v.split(":")[0] for v in service["volumes"] if not v.startswith(".")}
    assert len(volumes) == 3, "each Sentinel keeps what it learnt in a volume of its own"
    assert commented("REDIS_SENTINELS").split(",") == [f"{name}:26379" for name in sentinels]
    script = SENTINEL_SCRIPT.read_text()
    assert re.search(
        r"sentinel monitor \$SENTINEL_MASTER \$REDIS_PRIMARY_HOST \S+ 2$", script, re.M
    )
    assert "${REDIS_PRIMARY_HOST:=redis}" in script, "the first primary is the redis service"


def test_the_redis_replica_follows_the_primary_with_the_same_password(compose):
    services = compose["services"]
    primary = " ".join(services["redis"]["command"])
    replica = " ".join(services["redis-replica"]["command"])
    assert "replicaof redis 6379" in replica
    # The role is in the data volume's redis.conf, which Sentinel rewrites on a failover; on the
    # command line it would undo the failover at the next restart.
    assert "--replicaof" not in replica and "--replicaof" not in primary
    for name, command in (("redis", primary), ("redis-replica", replica)):
        assert "redis-server /data/redis.conf" in command, name
        assert '--requirepass "$$REDISCLI_AUTH"' in command, name
        assert '--masterauth "$$REDISCLI_AUTH"' in command, name
        assert f"--replica-announce-ip {name}" in command, name
        assert services[name]["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD")
        assert "--appendonly yes" in command, name


def test_the_postgresql_standby_streams_from_the_primary_and_the_urls_name_it(compose, env_example):
    services = compose["services"]
    standby = services["postgres-standby"]
    assert standby["entrypoint"] == ["sh", "/etc/helao/standby.sh"]
    assert standby["environment"]["PRIMARY_HOST"] == "postgres"
    assert standby["image"] == services["postgres"]["image"], "the same major version"
    assert standby["depends_on"]["postgres"]["condition"] == "service_healthy"
    script = (ROOT / "deploy" / "postgres" / "standby.sh").read_text()
    assert "pg_basebackup" in script and "-R -X stream" in script and "-U replicator" in script
    # Both servers read the shipped pg_hba.conf, which lets `replicator` stream.
    for name in ("postgres", "postgres-standby"):
        assert (
            "./deploy/postgres/pg_hba.conf:/etc/postgresql/pg_hba.conf:ro"
            in (services[name]["volumes"])
        )
    assert "hba_file=/etc/postgresql/pg_hba.conf" in services["postgres"]["command"]
    assert "hba_file=/etc/postgresql/pg_hba.conf" in script
    hba = [
        line.split()
        for line in (ROOT / "deploy" / "postgres" / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ["host", "replication", "replicator", "all", "scram-sha-256"] in hba
    assert ["host", "all", "all", "all", "scram-sha-256"] in hba
    init = (ROOT / "deploy" / "postgres" / "initdb" / "10-replication.sh").read_text()
    assert "CREATE ROLE replicator WITH REPLICATION LOGIN" in init
    # Synchronous replication names the standby's cluster_name, set with ALTER SYSTEM: never on
    # the command line, which would override ALTER SYSTEM and leave no way to stop waiting for
    # a lost standby without restarting the primary.
    assert "cluster_name=standby" in script
    assert not any("synchronous" in part for part in services["postgres"]["command"])
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "ALTER SYSTEM SET synchronous_standby_names = 'standby'" in operations
    assert "ALTER SYSTEM SET synchronous_standby_names = ''" in operations
    assert env_example["POSTGRES_REPLICATION_PASSWORD"] == "CHANGE-ME"

    # The URLs .env.example shows for the profile: the primary first, the standby second, and
    # the one that accepts writes chosen by libpq; reads for reports from the standby.
    database = urlsplit(commented("DATABASE_URL"))
    assert database.netloc.split("@")[1] == "postgres:5432,postgres-standby:5432"
    assert "target_session_attrs=read-write" in database.query
    replica = urlsplit(commented("DATABASE_REPLICA_URL"))
    assert replica.hostname == "postgres-standby"
    assert int(commented("DATABASE_REPLICA_MAX_LAG_SECONDS")) > 0


def test_the_second_daphne_is_the_web_service_under_nginx_s_name(compose):
    services = compose["services"]
    web, second = services["web"], services["web-2"]
    for key in ("command", "env_file", "healthcheck", "depends_on", "image", "stop_grace_period"):
        assert second[key] == web[key], key
    assert second["volumes"] == web["volumes"], "the same tombstone folder"
    assert second["networks"]["backend"]["aliases"] == ["web"]
    # nginx balances over every address of `web`, re-resolved every ten seconds.
    assert "web:8000 resolve max_fails=0" in nginx_directives("server")
    assert "valid=10s" in nginx_directives("resolver")[0]


@pytest.fixture
def sentinel_run(tmp_path):
    """The shipped sentinel.sh against a real password-protected redis-server on loopback."""
    program = shutil.which("redis-server")
    assert program, "redis-server is not installed"
    password = "test-password"
    redis_port, sentinel_port = free_port(), free_port()
    started: list[subprocess.Popen] = []

    def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(tmp_path / f"{len(started)}.log", "a")  # noqa: SIM115 - closed with the test
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    start([program, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
           "--requirepass", password, "--dir", str(tmp_path)])  # fmt: skip
    data = tmp_path / "sentinel"
    data.mkdir()
    env = {
        "PATH": f"{Path(program).parent}:{os.environ['PATH']}",
        "REDIS_PASSWORD": password,
        "SENTINEL_ANNOUNCE": "127.0.0.1",
        "SENTINEL_MASTER": "helao",
        "SENTINEL_DIR": str(data),
        "SENTINEL_PORT": str(sentinel_port),
        "REDIS_PRIMARY_HOST": "127.0.0.1",
        "REDIS_PRIMARY_PORT": str(redis_port),
    }

    def sentinel() -> subprocess.Popen:
        return start(["sh", str(SENTINEL_SCRIPT)], env)

    try:
        yield sentinel, sentinel_port, redis_port, data
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(10)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.1)


def test_the_sentinel_script_monitors_the_primary_and_keeps_what_it_learnt(sentinel_run):
    sentinel, port, redis_port, data = sentinel_run
    process = sentinel()
    client = redis.Redis(port=port, socket_timeout=2)

    def monitoring() -> bool:
        master = client.sentinel_master("helao")
        # It authenticated: it reads the primary's INFO (no replicas, no flags but master).
        return (
            master["port"] == redis_port
            and master["flags"] == "master"
            and (master["info-refresh"] < 20000)
        )

    _until(monitoring, "the Sentinel to monitor the primary")
    assert client.sentinel_master("helao")["quorum"] == 2
    process.terminate()
    process.wait(10)

    # Started again (a container restart): the rewritten file is kept, the password once.
    process = sentinel()
    _until(monitoring, "the restarted Sentinel to monitor the primary")
    config = (data / "sentinel.conf").read_text()
    assert config.count("sentinel auth-pass helao ") == 1
    assert "sentinel myid" in config, "the file Sentinel rewrote was kept"
