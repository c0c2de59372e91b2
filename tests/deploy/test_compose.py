"""Static checks of the production deployment: docker-compose.yml, the Dockerfile, nginx and
.env.example agree with each other and with the project, without a docker engine.

Every command compose runs is checked against what is installed: Daphne's flags through
Daphne's own argument parser, Celery's through its CLI, manage.py commands against Django's
command registry. The settings production needs are derived from helao_chat/settings.py.
"""

from __future__ import annotations

import ast
import importlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
APP_SERVICES = ("migrate", "web", "worker", "beat")
SERVICES = {"postgres", "redis", "web", "worker", "beat", "nginx", "migrate"}
# Production cannot run on the embedded defaults of these, even where settings.py has one.
ALWAYS_REQUIRED = {
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "CHAT_EMBED_ORIGINS",
    "DJANGO_DEBUG",
    "CHAT_TRUSTED_PROXIES",
    "CSRF_TRUSTED_ORIGINS",
}
ENV_READERS = {
    "str",
    "bool",
    "int",
    "float",
    "list",
    "tuple",
    "dict",
    "json",
    "url",
    "db",
    "db_url",
    "cache",
    "cache_url",
    "email",
    "email_url",
    "path",
    "decimal",
}
CLIENT_ADDRESS_VARIABLES = (
    "$remote_addr",
    "$binary_remote_addr",
    "$realip_remote_addr",
    "$proxy_add_x_forwarded_for",
    "$http_x_forwarded_for",
    "$http_x_real_ip",
    "$http_forwarded",
)
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE.open() as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text())


def parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not NAME=value: {line!r}"
        values[name.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """What docker compose makes of `${NAME:-default}` and `$$` (defaults when env is None)."""
    env = env or {}

    def replace(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env and (env[name] or not (op or "").startswith(":")):
            return env[name]
        if op in (":-", "-"):
            return arg
        return "PLACEHOLDER"

    return INTERPOLATION.sub(replace, value).replace("$$", "$")


def settings_env_names() -> dict[str, bool]:
    """Every `env.<type>("NAME", ...)` read in settings.py -> whether it has a default."""
    tree = ast.parse((ROOT / "helao_chat" / "settings.py").read_text())
    names: dict[str, bool] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ENV_READERS or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        if not first.value.isupper():
            continue
        has_default = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
        names[first.value] = names.get(first.value, True) and has_default
    return names


def production_env(example: dict[str, str], **overrides: str) -> dict[str, str]:
    """.env.example with its placeholders filled in, as an operator would, and nothing else."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    env.update(example)
    password = secrets.token_hex(16)
    env.update(
        SECRET_KEY=secrets.token_urlsafe(64),
        POSTGRES_PASSWORD=password,
        DATABASE_URL=example["DATABASE_URL"].replace("CHANGE-ME", password),
        REDIS_PASSWORD=password,
        REDIS_URL=example["REDIS_URL"].replace("CHANGE-ME", password),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(overrides)
    return env


def command_of(service: dict) -> list[str]:
    command = service["command"]
    assert isinstance(command, list), "commands are lists (exec form), not shell strings"
    return [interpolate(str(part)) for part in command]


def shell_commands(argv: list[str]) -> list[list[str]]:
    """`sh -c "a && b"` -> [a, b]; any other argv -> [argv]."""
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    script = argv[2]
    return [shlex.split(part) for part in script.split("&&")]


SERVE = ["python", "-m", "helao_chat.serve"]


def daphne_args_of(argv: list[str]) -> list[str]:
    """The web server's arguments: Daphne's, after `python -m helao_chat.serve`."""
    assert argv[:3] == SERVE, f"the web server runs as {' '.join(SERVE)}: {shlex.join(argv)}"
    return argv[3:]


def assert_runs(argv: list[str]) -> None:
    """Fails unless `argv` names a program of this project with arguments it accepts."""
    argv = [a for a in argv if not a.startswith(">")]
    if argv[:3] == SERVE:
        argv = ["daphne", *daphne_args_of(argv)]
    program, args = argv[0], argv[1:]
    if program == "daphne":
        from daphne.cli import CommandLineInterface

        parsed = CommandLineInterface().parser.parse_args(args)
        module_name, _, attr = parsed.application.partition(":")
        assert getattr(importlib.import_module(module_name), attr) is not None
        help_text = subprocess.run(
            [BIN / "daphne", "--help"], capture_output=True, text=True, check=True
        ).stdout
        for flag in (a for a in args if a.startswith("-")):
            assert flag in help_text, f"daphne --help does not list {flag}"
    elif program == "celery":
        assert args[:2] == ["-A", "helao_chat"], argv
        from celery import Celery
        from celery.app.utils import find_app

        assert isinstance(find_app("helao_chat"), Celery)
        result = subprocess.run(
            [BIN / "celery", *args, "--help"], capture_output=True, text=True, cwd=ROOT
        )
        assert result.returncode == 0, f"{shlex.join(argv)}: {result.stderr}"
    elif program == "python" and args[0] == "manage.py":
        from django.core.management import get_commands

        assert args[1] in get_commands(), f"no manage.py command {args[1]}"
    elif program == "python" and args[0].endswith(".py"):
        script = ROOT / args[0]
        assert script.is_file(), f"{args[0]} is not in the project"
        result = subprocess.run(
            [sys.executable, script, "--help"], capture_output=True, text=True, cwd=ROOT
        )
        assert result.returncode == 0, result.stderr
    else:
        raise AssertionError(f"unexpected program in docker-compose.yml: {shlex.join(argv)}")


def healthcheck_argv(test: list[str] | str) -> list[str]:
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    kind, rest = test[0], test[1:]
    if kind == "CMD":
        return [interpolate(a) for a in rest]
    assert kind == "CMD-SHELL", test
    return shlex.split(interpolate(rest[0]).split("|")[0])


def nginx_directives(name: str) -> list[str]:
    """The arguments of every `name ...;` directive in nginx.conf, comments removed."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())
    return [m.group(1) for m in re.finditer(rf"(?<![\w$]){name}\s+([^;{{]*);", text)]


# --- docker-compose.yml -------------------------------------------------------------------------


def test_compose_is_valid_yaml_with_every_service(compose):
    assert set(compose["services"]) >= SERVICES
    for name, service in compose["services"].items():
        if name != "migrate":
            assert "healthcheck" in service, f"{name} has no healthcheck"


def test_web_can_be_scaled(compose):
    web = compose["services"]["web"]
    assert "container_name" not in web
    for port in web.get("ports", []):
        published = port.get("published") if isinstance(port, dict) else str(port).split(":")
        assert not published or len(published) == 1, f"web publishes a fixed host port: {port}"
    assert web.get("deploy", {}).get("replicas", 1) >= 1


def test_there_is_exactly_one_beat(compose):
    beat = compose["services"]["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1
    others = [
        name
        for name, service in compose["services"].items()
        if name != "beat" and "beat" in service.get("command", [])
    ]
    assert others == []


def test_migrations_run_once_before_the_application_starts(compose):
    services = compose["services"]
    assert "manage.py migrate --noinput" in " ".join(command_of(services["migrate"]))
    assert services["migrate"].get("restart") == "no"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_data_lives_in_named_volumes(compose):
    services, volumes = compose["services"], compose["volumes"]
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert any(v.startswith("redisdata:") for v in services["redis"]["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith("."):
                assert source in volumes, f"{name} mounts an undeclared volume {source}"


def test_application_containers_run_unprivileged_from_the_env_file(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert service.get("user") in (None, "helao", "10001"), name
        assert "ALL" in service["cap_drop"]


def test_every_command_compose_runs_exists_in_the_project(compose):
    for name in APP_SERVICES:
        for argv in shell_commands(command_of(compose["services"][name])):
            assert_runs(argv)
        if "healthcheck" in compose["services"][name]:
            assert_runs(healthcheck_argv(compose["services"][name]["healthcheck"]["test"]))


def test_the_web_command_serves_with_the_products_websocket_limits(compose):
    from daphne.cli import CommandLineInterface

    from helao_chat.serve import with_default_flags

    argv = command_of(compose["services"]["web"])
    # What the served process runs with: the command's flags, and helao_chat.serve's own
    # limits and timeouts for those it leaves out (one place to change them).
    args = CommandLineInterface().parser.parse_args(with_default_flags(daphne_args_of(argv)))
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    # Four times the protocol's frame limit: a frame between the two is answered by the
    # application (frame_too_large and close 4009) instead of a dropped connection.
    assert args.websocket_max_message_size == 256 * 1024
    assert args.websocket_connect_timeout == 10
    assert args.ping_interval == 30 and args.ping_timeout == 25
    assert args.application_close_timeout == 10
    # Daphne's access log would record every visitor's address.
    assert argv[argv.index("--access-log") + 1] == "/dev/null"
    assert not args.proxy_headers, "the application, not Daphne, decides whom to believe"


def test_the_worker_has_time_limits(compose):
    argv = command_of(compose["services"]["worker"])
    limits = {argv[i]: float(argv[i + 1]) for i, a in enumerate(argv) if a.endswith("time-limit")}
    assert 0 < limits["--soft-time-limit"] < limits["--time-limit"]


def test_a_broken_command_would_be_noticed():
    with pytest.raises(SystemExit):
        assert_runs(["daphne", "--no-such-flag", "helao_chat.asgi:application"])
    with pytest.raises(SystemExit):
        assert_runs([*SERVE, "--no-such-flag", "helao_chat.asgi:application"])
    with pytest.raises(AssertionError):
        assert_runs(["celery", "-A", "helao_chat", "worker", "--no-such-flag"])
    with pytest.raises(AssertionError):
        assert_runs(["python", "manage.py", "no_such_command"])


def test_no_secret_is_in_the_compose_file(compose):
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if any(word in key for word in ("PASSWORD", "SECRET", "AUTH")):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"


# --- .env.example ---------------------------------------------------------------------------------


def test_env_example_lists_every_setting_production_requires(env_example):
    names = settings_env_names()
    assert "SECRET_KEY" in names and "CHAT_RETENTION_MONTHS" in names
    required = {name for name, has_default in names.items() if not has_default}
    missing = sorted((required | ALWAYS_REQUIRED) - set(env_example))
    assert missing == []
    assert env_example["DJANGO_DEBUG"] == "0"


def test_env_example_defines_every_variable_compose_uses(env_example):
    used = set(INTERPOLATION.findall(COMPOSE.read_text()))
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD"} <= {name for name, _, _ in used}
    missing = sorted({name for name, _, _ in used} - set(env_example))
    assert missing == []


def test_env_example_trusts_exactly_nginx(compose, env_example):
    nginx_ip = interpolate(
        compose["services"]["nginx"]["networks"]["backend"]["ipv4_address"], env_example
    )
    subnet = interpolate(compose["networks"]["backend"]["ipam"]["config"][0]["subnet"], env_example)
    assert env_example["CHAT_TRUSTED_PROXIES"].split(",") == [nginx_ip]
    assert ipaddress.ip_address(nginx_ip) in ipaddress.ip_network(subnet)


def test_env_example_holds_no_secret(env_example):
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert env_example[name] == "CHANGE-ME"
    assert "CHANGE-ME" in env_example["DATABASE_URL"]
    assert "CHANGE-ME" in env_example["REDIS_URL"]


def test_production_refuses_to_start_with_the_example_unchanged(env_example):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    env.update(env_example)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_deploy_check_passes_with_the_production_settings(env_example):
    # STATICFILES_DIRS names static/; a checkout without any static file yet has no such folder.
    (ROOT / "static").mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_env(env_example),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- nginx ----------------------------------------------------------------------------------------


def test_nginx_logs_no_client_address():
    formats = nginx_directives("log_format")
    assert formats, "nginx.conf defines its own log format"
    for log_format in formats:
        for variable in CLIENT_ADDRESS_VARIABLES:
            assert variable not in log_format, f"the access log would record {variable}"
    names = {f.split()[0] for f in formats}
    for access_log in nginx_directives("access_log"):
        parts = access_log.split()
        # Without a format name nginx uses "combined", which starts with $remote_addr.
        assert parts == ["off"] or (len(parts) >= 2 and parts[1] in names), access_log
    assert nginx_directives("error_log") == ["/dev/stderr crit"]


def test_nginx_passes_the_client_address_and_scheme_to_daphne():
    headers = nginx_directives("proxy_set_header")
    for header in ("X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "Host", "Upgrade"):
        assert any(h.split()[0] == header for h in headers), header
    # Each proxied location lists them all (they are not inherited into a location that sets
    # any): / and /ws/.
    assert sum(h.split()[0] == "X-Forwarded-For" for h in headers) == len(
        nginx_directives("proxy_pass")
    )
    assert set(nginx_directives("proxy_pass")) == {"http://helao_web"}
    assert "web:8000 resolve max_fails=0" in nginx_directives("server")


def test_nginx_terminates_tls_with_the_documented_certificate(compose):
    assert nginx_directives("ssl_certificate") == ["/etc/nginx/certs/fullchain.pem"]
    assert nginx_directives("ssl_certificate_key") == ["/etc/nginx/certs/privkey.pem"]
    mounts = compose["services"]["nginx"]["volumes"]
    assert "./deploy/certs:/etc/nginx/certs:ro" in mounts
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in mounts
    assert any(m.startswith("static:/srv/static") for m in mounts)
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert "deploy/certs/fullchain.pem" in docs and "deploy/certs/privkey.pem" in docs


# --- Dockerfile -----------------------------------------------------------------------------------


def test_the_image_runs_as_a_non_root_user_from_the_lock_file():
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(re.match(r"RUN pip install -r requirements\.lock$", line) for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    collect = [line for line in lines if "collectstatic" in line]
    assert collect and collect[0].startswith("RUN DJANGO_DEBUG=0") and "SECRET_KEY=" in collect[0]
    assert not any(line.startswith(("ENV", "ARG")) and "SECRET_KEY" in line for line in lines)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "deploy/certs", ".venv", ".git"} <= set(ignored)


def test_the_image_starts_the_same_web_server_as_compose(compose):
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    cmd = json.loads(re.search(r"^CMD (\[.*\])\s*$", text, re.M).group(1))
    assert cmd == command_of(compose["services"]["web"])
    assert_runs(cmd)
