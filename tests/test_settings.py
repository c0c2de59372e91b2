"""Settings: embedded defaults, PostgreSQL/Redis from the environment, production safety."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings as s; django.setup();"
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'],"
    " 'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'broker': s.CELERY_BROKER_URL,"
    " 'cache': s.CACHES['default']['BACKEND'], 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS}))"
)
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "ALLOWED_HOSTS": "chat.example.org",
    "CHAT_EMBED_ORIGINS": "https://www.example.org",
    "DATABASE_URL": "postgres://helao@db.invalid:5432/helao",
    "REDIS_URL": "redis://redis.invalid:6379/0",
}


def _run(env: dict[str, str], code: str = PROBE, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    clean.pop("DJANGO_DEBUG", None)
    clean.pop("SECRET_KEY", None)
    clean["DJANGO_SETTINGS_MODULE"] = "helao_chat.settings"
    command = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(
        command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_nothing_set_runs_on_embedded_defaults():
    result = _run({})
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["db"] == "django.db.backends.sqlite3"
    assert probe["layer"] == "channels.layers.InMemoryChannelLayer"
    assert probe["broker"] == "filesystem://localhost/"
    assert probe["debug"] is True
    assert probe["hosts"] == ["127.0.0.1", "localhost"]


def test_database_and_redis_urls_switch_to_postgresql_and_redis():
    result = _run(
        {"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "REDIS_URL": "redis://127.0.0.1:6379/3"}
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["db"] == "django.db.backends.postgresql"
    assert probe["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert probe["broker"] == "redis://127.0.0.1:6379/3"
    assert probe["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_production_refuses_to_start_without_a_secret_key():
    result = _run(PRODUCTION)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_or_default_secret_key():
    for weak in ("dev-only-insecure-key-do-not-use-in-production", "short", "a" * 60):
        result = _run({**PRODUCTION, "SECRET_KEY": weak})
        assert result.returncode != 0, weak
        assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check():
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(64)}
    result = _run(env, "", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_bad_number_in_the_environment_fails_loudly():
    result = _run({"CHAT_RETENTION_MONTHS": "three"})
    assert result.returncode != 0
    assert "ValueError" in result.stderr or "invalid literal" in result.stderr


def test_a_backup_rotation_outside_a_year_stops_the_start():
    for bad in ("0", "400"):
        result = _run({"CHAT_BACKUP_ROTATION_DAYS": bad})
        assert result.returncode != 0, bad
        assert "CHAT_BACKUP_ROTATION_DAYS must be between 1 and 366" in result.stderr


def test_a_routing_mode_or_offer_timeout_out_of_range_stops_the_start():
    result = _run({"CHAT_ROUTING": "round-robin"})
    assert result.returncode != 0
    assert "CHAT_ROUTING must be offer or queue" in result.stderr
    for bad in ("1", "601"):
        result = _run({"CHAT_OFFER_TIMEOUT_SECONDS": bad})
        assert result.returncode != 0, bad
        assert "CHAT_OFFER_TIMEOUT_SECONDS must be between 5 and 600" in result.stderr
    assert _run({"CHAT_ROUTING": "offer"}).returncode == 0


def test_an_answer_link_lifetime_out_of_range_stops_the_start():
    for bad in ("0", "91"):
        result = _run({"CHAT_ANSWER_LINK_DAYS": bad})
        assert result.returncode != 0, bad
        assert "CHAT_ANSWER_LINK_DAYS must be between 1 and 90" in result.stderr
    assert _run({"CHAT_ANSWER_LINK_DAYS": "90"}).returncode == 0


def test_an_embed_origin_that_is_not_an_http_origin_fails_loudly():
    for bad in ("javascript:alert(4)", "ftp://www.example.org", "https://www.example.org/page"):
        result = _run({"CHAT_EMBED_ORIGINS": f"https://ok.example.org,{bad}"})
        assert result.returncode != 0, bad
        assert f"CHAT_EMBED_ORIGINS: {bad!r} is not an http(s) origin" in result.stderr
    ok = _run({"CHAT_EMBED_ORIGINS": "https://www.example.org,http://localhost:8000"})
    assert ok.returncode == 0, ok.stderr


def test_a_server_frame_budget_the_socket_cannot_carry_is_refused():
    for bad in ({"CHAT_MAX_SERVER_FRAME_BYTES": "65536"}, {"CHAT_MAX_CONTEXT_BYTES": "8192"}):
        result = _run(bad)
        assert result.returncode != 0, bad
        assert "CHAT_MAX_SERVER_FRAME_BYTES must be between" in result.stderr


def test_postgresql_prepares_statements_only_when_told_to():
    code = (
        "import json, django; from django.conf import settings as s; django.setup();"
        "print(json.dumps(s.DATABASES['default'].get('OPTIONS', {})))"
    )
    pg = {"DATABASE_URL": "postgres://helao@db.invalid:5432/helao"}
    off = _run(pg, code)
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout) == {"server_side_binding": False, "prepare_threshold": None}
    on = _run({**pg, "DB_PREPARE_THRESHOLD": "5", "DB_SERVER_SIDE_BINDING": "1"}, code)
    assert json.loads(on.stdout) == {"server_side_binding": True, "prepare_threshold": 5}
    assert "prepare_threshold" not in _run({}, code).stdout  # SQLite has no such option


def test_redis_sentinels_send_the_layer_the_cache_and_the_broker_to_the_sentinels():
    code = (
        "import json, django; from django.conf import settings as s; django.setup();"
        "print(json.dumps({'layer': s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0],"
        " 'cache': s.CACHES['default'], 'broker': s.CELERY_BROKER_URL,"
        " 'options': s.CELERY_BROKER_TRANSPORT_OPTIONS}))"
    )
    result = _run(
        {
            "REDIS_URL": "redis://:pw@ignored:1/2",
            "REDIS_SENTINELS": "s1.invalid:26379, s2.invalid:26380",
            "REDIS_SENTINEL_MASTER": "helao",
        },
        code,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    sentinels = [["s1.invalid", 26379], ["s2.invalid", 26380]]
    assert got["layer"]["sentinels"] == sentinels and got["layer"]["master_name"] == "helao"
    assert (got["layer"]["db"], got["layer"]["password"]) == (2, "pw")
    assert got["cache"]["BACKEND"] == "realtime.redis_sentinel.SentinelRedisCache"
    assert got["cache"]["OPTIONS"]["sentinels"] == sentinels
    assert got["broker"] == "sentinel://:pw@s1.invalid:26379/2;sentinel://:pw@s2.invalid:26380/2"
    assert got["options"]["master_name"] == "helao"


def test_a_bad_sentinel_setting_stops_the_start():
    for env in (
        {"REDIS_SENTINELS": "s1.invalid", "REDIS_SENTINEL_MASTER": "helao"},
        {"REDIS_SENTINELS": "s1.invalid:26379"},
    ):
        result = _run(env)
        assert result.returncode != 0
        assert "REDIS_SENTINEL" in result.stderr


def test_a_replica_url_adds_a_replica_database_behind_the_router():
    code = (
        "import json, django; from django.conf import settings as s; django.setup();"
        "print(json.dumps({'replica': s.DATABASES.get('replica'), 'routers': s.DATABASE_ROUTERS}))"
    )
    pg = {"DATABASE_URL": "postgres://helao@db-1.invalid:5432/helao"}
    without = _run(pg, code)
    assert without.returncode == 0, without.stderr
    assert json.loads(without.stdout) == {"replica": None, "routers": []}
    result = _run(
        {**pg, "DATABASE_REPLICA_URL": "postgres://reader:pw@db-2.invalid:5433/helao"}, code
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["routers"] == ["chat.replica.ReplicaRouter"]
    replica = got["replica"]
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == ("db-2.invalid", 5433, "reader")
    assert replica["OPTIONS"]["connect_timeout"] == 3
    assert replica["TEST"]["MIRROR"] == "default"


def test_a_replica_without_postgresql_or_with_a_negative_lag_stops_the_start():
    replica = {"DATABASE_REPLICA_URL": "postgres://helao@db-2.invalid:5432/helao"}
    result = _run(replica)  # DATABASE_URL unset: SQLite, which has no standby
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL needs PostgreSQL" in result.stderr
    result = _run({"DATABASE_REPLICA_MAX_LAG_SECONDS": "-1"})
    assert result.returncode != 0
    assert "DATABASE_REPLICA_MAX_LAG_SECONDS must be 0 or more" in result.stderr
