"""Settings for helao-chat, read from environment variables.

With nothing set, the project runs on embedded defaults (SQLite, the in-memory channel layer, a
Celery broker on the local filesystem, DEBUG on, localhost only). Setting DATABASE_URL and
REDIS_URL switches to PostgreSQL, channels-redis and a Redis broker. DJANGO_DEBUG=0 is production
mode: it refuses to start with a default or weak SECRET_KEY.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("HELAO_VAR_DIR", default=str(BASE_DIR / "var")))
# Local state of the embedded defaults (SQLite, the filesystem broker): present from the start,
# so that `make run` and `make test` work in a fresh checkout.
with contextlib.suppress(OSError):
    VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Only ever used with DEBUG on; production refuses it below.
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters when DJANGO_DEBUG=0."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "realtime",
    "chat",
    "retention",
    "dsr",
    "agents",
    "feedback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "agents.middleware.StaffLanguageMiddleware",
    "agents.middleware.AbsoluteSessionLifetimeMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "agents.signin.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helao_chat.urls"
ASGI_APPLICATION = "helao_chat.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Persistent connections: a new PostgreSQL connection per message costs more than the message.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Optional: server-side parameters, and each statement prepared once it has run this often
    # on a connection. The chat's repeated queries then skip planning (availability on each
    # greeting 3.6 -> 2.2 ms, the console access rule 3.2 -> 1.7 ms), but the retention purge's
    # conversation batches ran ~30 % slower with server-side parameters, so both are off by
    # default. Behind a transaction-mode pooler keep DB_PREPARE_THRESHOLD=0 (docs/deployment.md).
    prepare_threshold = env.int("DB_PREPARE_THRESHOLD", default=0)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=env.bool("DB_SERVER_SIDE_BINDING", default=False),
        prepare_threshold=prepare_threshold or None,  # 0: never prepare
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so that a live server process in the tests shares it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
# Optional: a streaming standby for the reads of reports and history (chat/replica.py), never for
# anything a write depends on. Lagging more than DATABASE_REPLICA_MAX_LAG_SECONDS, or down, it is
# not used and those reads go to the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
DATABASE_REPLICA_MAX_LAG_SECONDS = env.int("DATABASE_REPLICA_MAX_LAG_SECONDS", default=30)
if DATABASE_REPLICA_MAX_LAG_SECONDS < 0:
    raise ImproperlyConfigured("DATABASE_REPLICA_MAX_LAG_SECONDS must be 0 or more.")
if DATABASE_REPLICA_URL:
    _replica = env.db_url_config(DATABASE_REPLICA_URL)
    if not (
        _replica["ENGINE"] == DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    ):
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL needs PostgreSQL, as DATABASE_URL: a standby of that database."
        )
    # A standby that does not answer must not hold a page for long (libpq's connect_timeout).
    _replica["OPTIONS"] = {
        **DATABASES["default"]["OPTIONS"],
        "connect_timeout": 3,
        **_replica.get("OPTIONS", {}),
    }
    _replica["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    _replica["CONN_HEALTH_CHECKS"] = True
    # The test database has no standby: there the replica is the primary itself.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["chat.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, channel layer, cache, Celery ---------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Redis with Sentinel: the channel layer, the cache and the Celery broker follow the primary that
# these Sentinels (host:port,host:port,...) name for REDIS_SENTINEL_MASTER. REDIS_URL then gives
# only the password and database number (redis://:PASSWORD@sentinel/0; its host is not used);
# REDIS_SENTINEL_PASSWORD is the Sentinels' own password, if they have one.
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="")


def host_ports(name: str, values: list[str]) -> list[tuple[str, int]]:
    """`["host:port", ...]` -> `[(host, port), ...]`; anything else stops the start."""
    pairs = []
    for value in values:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"{name}: {value!r} is not host:port.")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


if REDIS_SENTINELS:
    _sentinels = host_ports("REDIS_SENTINELS", REDIS_SENTINELS)
    if not REDIS_SENTINEL_MASTER:
        raise ImproperlyConfigured("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (the master name).")
    _redis = urlsplit(REDIS_URL or "redis://sentinel/0")
    _redis_node: dict[str, object] = {"db": int((_redis.path or "/0").strip("/") or 0)}
    if _redis.password:
        _redis_node["password"] = _redis.password
    _sentinel_password = env.str("REDIS_SENTINEL_PASSWORD", default="")
    _sentinel_kwargs = {"password": _sentinel_password} if _sentinel_password else {}
    _sentinel = {
        "sentinels": _sentinels,
        "master_name": REDIS_SENTINEL_MASTER,
        "sentinel_kwargs": _sentinel_kwargs,
        **_redis_node,
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_sentinel], "prefix": env.str("CHANNEL_PREFIX", "helao")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "realtime.redis_sentinel.SentinelRedisCache",
            "LOCATION": "sentinel",
            "KEY_PREFIX": env.str("CHANNEL_PREFIX", "helao"),
            "OPTIONS": _sentinel,
        }
    }
    _auth = f":{_redis.password}@" if _redis.password else ""
    CELERY_BROKER_URL = ";".join(
        f"sentinel://{_auth}{host}:{port}/{_redis_node['db']}" for host, port in _sentinels
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "master_name": REDIS_SENTINEL_MASTER,
        "sentinel_kwargs": _sentinel_kwargs,
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_PREFIX", "helao")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CHANNEL_PREFIX", "helao"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _broker_dir = VAR_DIR / "celery-broker"
    # A host part, though the folder transport ignores it: without one kombu warns at every start.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The purge is idempotent, so a worker killed mid-run may simply redo it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=840)
CHAT_PURGE_INTERVAL_SECONDS = env.int("CHAT_PURGE_INTERVAL_SECONDS", default=300)
if not 1 <= CHAT_PURGE_INTERVAL_SECONDS <= 900:
    raise ImproperlyConfigured("CHAT_PURGE_INTERVAL_SECONDS must be between 1 and 900.")
# Database connections the purge deletes with at once on PostgreSQL (spans of time of the
# register's tables, then disjoint batches of conversations); 1 keeps it to one core.
CHAT_PURGE_WORKERS = env.int("CHAT_PURGE_WORKERS", default=2)
if not 1 <= CHAT_PURGE_WORKERS <= 8:
    raise ImproperlyConfigured("CHAT_PURGE_WORKERS must be between 1 and 8.")
# Routing: "offer" offers each new chat to the online agent of its topic with the most free
# capacity (agents accept, or the offer passes on after CHAT_OFFER_TIMEOUT_SECONDS); "queue"
# leaves every chat in the queue for agents to take.
CHAT_ROUTING = env.str("CHAT_ROUTING", default="queue").strip().lower()
if CHAT_ROUTING not in ("offer", "queue"):
    raise ImproperlyConfigured("CHAT_ROUTING must be offer or queue.")
CHAT_OFFER_TIMEOUT_SECONDS = env.int("CHAT_OFFER_TIMEOUT_SECONDS", default=30)
if not 5 <= CHAT_OFFER_TIMEOUT_SECONDS <= 600:
    raise ImproperlyConfigured("CHAT_OFFER_TIMEOUT_SECONDS must be between 5 and 600.")
CELERY_BEAT_SCHEDULE = {
    "purge-expired": {
        "task": "chat.tasks.purge_expired",
        "schedule": timedelta(seconds=CHAT_PURGE_INTERVAL_SECONDS),
        # A run that could not start in time is pointless: the next one is minutes away.
        "options": {"expires": CHAT_PURGE_INTERVAL_SECONDS},
    },
    "contact-notify": {
        "task": "chat.tasks.contact_notify_due",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 60},
    },
    "availability-sweep": {
        "task": "agents.tasks.availability_sweep",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 30},
    },
    # Offers that timed out pass on; chats nobody could take yet are offered again.
    "offer-sweep": {
        "task": "agents.tasks.offer_sweep",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5},
    },
}

# --- Auth, sessions, login throttling ------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"
# Idle timeout (8 h by default): every request renews the session; a console left alone
# expires. The console renews it only while the agent is active (keepalive), so this is real
# idleness: a console left open overnight is signed out by the morning.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=8 * 3600)
SESSION_SAVE_EVERY_REQUEST = True
# However busy, a sign-in lasts one long working day at most (docs/sign-in.md). It is never
# shorter than the idle time (checked below), or the idle time could never end a session.
SESSION_ABSOLUTE_LIFETIME_SECONDS = env.int("SESSION_ABSOLUTE_LIFETIME_SECONDS", default=12 * 3600)
if not 60 <= SESSION_COOKIE_AGE <= SESSION_ABSOLUTE_LIFETIME_SECONDS:
    raise ImproperlyConfigured(
        "SESSION_IDLE_TIMEOUT_SECONDS must be at least 60 and at most "
        "SESSION_ABSOLUTE_LIFETIME_SECONDS."
    )
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# The second factor (TOTP, django-otp) for the console and admin alike (agents/signin.py):
# `roles` asks it of the service director, admin users and anyone who can read all history or
# export and erase; `all` of every staff account; `off` of nobody who has not enrolled. The
# default is `roles` in production and `off` in development, so that the demo accounts sign in
# with a password alone.
CHAT_REQUIRE_2FA = env.str("CHAT_REQUIRE_2FA", default="").strip().lower()
# ADMIN_REQUIRE_OTP (admin only, devices added by hand) is folded into CHAT_REQUIRE_2FA.
_admin_require_otp = env.bool("ADMIN_REQUIRE_OTP", default=False)
if _admin_require_otp and CHAT_REQUIRE_2FA == "off":
    raise ImproperlyConfigured(
        "ADMIN_REQUIRE_OTP=1 contradicts CHAT_REQUIRE_2FA=off; ADMIN_REQUIRE_OTP is deprecated: "
        "remove it and set CHAT_REQUIRE_2FA=roles (or all)."
    )
if not CHAT_REQUIRE_2FA:
    CHAT_REQUIRE_2FA = "roles" if (_admin_require_otp or not DEBUG) else "off"
if CHAT_REQUIRE_2FA not in ("roles", "all", "off"):
    raise ImproperlyConfigured("CHAT_REQUIRE_2FA must be roles, all or off.")
# The name the authenticator app shows next to the codes.
CHAT_2FA_ISSUER = env.str("CHAT_2FA_ISSUER", default="helao-chat")
OTP_TOTP_ISSUER = CHAT_2FA_ISSUER
# Password sign-in can be turned off once single sign-on is on (CHAT_PASSWORD_SIGNIN=0).
CHAT_PASSWORD_SIGNIN = env.bool("CHAT_PASSWORD_SIGNIN", default=True)

# Single sign-on with OpenID Connect (mozilla-django-oidc, agents/oidc.py), off unless
# OIDC_RP_CLIENT_ID is set. Accounts are matched, never created; roles are taken from the
# identity provider only where OIDC_ROLE_MAP says so.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email")
# How an identity finds its staff account: `email` (the provider's verified e-mail address, the
# subject then remembered) or `subject` (only subjects already linked to an account).
OIDC_MATCH = env.str("OIDC_MATCH", default="email")
# The provider's own multi-factor sign-in stands in for ours (e.g. Entra ID with MFA enforced).
OIDC_COUNTS_AS_SECOND_FACTOR = env.bool("OIDC_COUNTS_AS_SECOND_FACTOR", default=False)
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="")
# Optional: the provider's groups decide chat roles. OIDC_ROLE_CLAIM names the claim that lists
# them (a dotted path for a nested one, e.g. realm_access.roles), OIDC_ROLE_MAP maps its values
# to chat roles ("helao-agents=Agent,helao-leads=Team lead"). Without both, whatever the
# provider says about roles is ignored and the director grants every role (docs/sign-in.md).
OIDC_ROLE_CLAIM = env.str("OIDC_ROLE_CLAIM", default="").strip()
OIDC_ROLE_MAP: dict[str, str] = {}
for _pair in filter(None, env.str("OIDC_ROLE_MAP", default="").split(",")):
    _value, _sep, _role = (part.strip() for part in _pair.partition("="))
    if not _sep or not _value or not _role:
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP: {_pair!r} is not provider value=chat role (pairs, comma separated)."
        )
    OIDC_ROLE_MAP[_value] = _role
if bool(OIDC_ROLE_CLAIM) != bool(OIDC_ROLE_MAP):
    raise ImproperlyConfigured("OIDC_ROLE_CLAIM and OIDC_ROLE_MAP are set together or not at all.")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT_SECONDS", default=10)
OIDC_CREATE_USER = False
OIDC_STORE_ACCESS_TOKEN = False
OIDC_STORE_ID_TOKEN = False
OIDC_AUTHENTICATION_CALLBACK_URL = "agents:oidc_callback"
LOGIN_REDIRECT_URL_FAILURE = "/console/login/?sso=failed"
if OIDC_ENABLED:
    _missing = [
        name
        for name in (
            "OIDC_RP_CLIENT_SECRET",
            "OIDC_OP_ISSUER",
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_JWKS_ENDPOINT",
        )
        if not globals()[name]
    ]
    if _missing:
        raise ImproperlyConfigured(f"OIDC_RP_CLIENT_ID is set, so set {', '.join(_missing)} too.")
    if OIDC_MATCH not in ("email", "subject"):
        raise ImproperlyConfigured("OIDC_MATCH must be email or subject.")
    AUTHENTICATION_BACKENDS.append("agents.oidc.StaffOIDCBackend")
if not CHAT_PASSWORD_SIGNIN and not OIDC_ENABLED:
    raise ImproperlyConfigured("CHAT_PASSWORD_SIGNIN=0 needs single sign-on (OIDC_RP_CLIENT_ID).")

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Behind nginx every peer is the proxy: throttle by the client that CHAT_TRUSTED_PROXIES name.
AXES_CLIENT_IP_CALLABLE = "realtime.net.request_client_ip"
# The same page for a lockout at the password, the second factor or a recovery code.
AXES_LOCKOUT_CALLABLE = "agents.signin.lockout_response"

# --- I18n --------------------------------------------------------------------------------
LANGUAGE_CODE = "fi"
LANGUAGES = [("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Helsinki")
USE_I18N = True
USE_TZ = True
# Dates and times in the reader's language (Django's fi and sv formats; English as read in
# Finland, not American); always in TIME_ZONE.
FORMAT_MODULE_PATH = ["chat.formats"]

# --- Static files ------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security headers ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
USE_TLS = env.bool("USE_TLS", default=not DEBUG)
if USE_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preload-list submission is hard to undo and a decision for the domain's owner, not
        # a default; everything else `check --deploy` asks for is on.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- The chat ----------------------------------------------------------------------------


def http_origins(name: str, default: list[str]) -> list[str]:
    """A list setting of web origins (http(s)://host[:port]); anything else stops the start.

    These end up in the frame-ancestors policy and as the widget's postMessage targets, so a
    typo or a `javascript:` value must fail loudly here rather than be dropped quietly later.
    """
    values = env.list(name, default=default)
    for value in values:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  raises ValueError on a bad port
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
            or value != value.strip()
        ):
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an http(s) origin such as https://www.example.org."
            )
    return values


# Sites allowed to embed the widget (scheme://host[:port]); the chat's own origin is implied.
CHAT_EMBED_ORIGINS = http_origins(
    "CHAT_EMBED_ORIGINS", default=["http://127.0.0.1:8000", "http://localhost:8000"]
)
# Reverse proxies whose X-Forwarded-For / X-Real-IP headers are believed; nobody else's are.
CHAT_TRUSTED_PROXIES = env.list("CHAT_TRUSTED_PROXIES", default=[])
CHAT_RETENTION_MONTHS = env.int("CHAT_RETENTION_MONTHS", default=3)
# Visitors may download and delete their own conversation from the widget (GDPR art. 15 and 17).
# Off for organisations that must keep chats for their own retention period; /privacy/ follows.
CHAT_VISITOR_SELF_SERVICE = env.bool("CHAT_VISITOR_SELF_SERVICE", default=True)

# A visitor who leaves a message while nobody is online may give an e-mail address for the
# answer (off by default: it is one more piece of personal data; /privacy/ follows the setting).
CHAT_OFFLINE_CONTACT = env.bool("CHAT_OFFLINE_CONTACT", default=False)
# The chat server's own address as visitors reach it: the link in that e-mail.
CHAT_PUBLIC_URL = env.str("CHAT_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# How long the e-mail's one-time link opens the chat (days; never past the chat's purge).
CHAT_ANSWER_LINK_DAYS = env.int("CHAT_ANSWER_LINK_DAYS", default=7)
if not 1 <= CHAT_ANSWER_LINK_DAYS <= 90:
    raise ImproperlyConfigured("CHAT_ANSWER_LINK_DAYS must be between 1 and 90.")

# --- E-mail (only the "an answer is waiting" notice above), through Django's SMTP backend -------
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="chat@localhost")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
# Downloads and deletions from the widget per visitor address and hour.
CHAT_SELF_SERVICE_PER_HOUR_PER_IP = env.int("CHAT_SELF_SERVICE_PER_HOUR_PER_IP", default=20)
CHAT_AUDIT_RETENTION_MONTHS = env.int("CHAT_AUDIT_RETENTION_MONTHS", default=12)
if not 1 <= CHAT_RETENTION_MONTHS <= 120:
    raise ImproperlyConfigured("CHAT_RETENTION_MONTHS must be between 1 and 120.")
# Backups (docs/operations.md) are kept at most this many days; /privacy/ states it, and erasure
# tombstones are kept as long, so that `manage.py replay_erasures` can erase again what any
# restorable backup brings back.
CHAT_BACKUP_ROTATION_DAYS = env.int("CHAT_BACKUP_ROTATION_DAYS", default=35)
if not 1 <= CHAT_BACKUP_ROTATION_DAYS <= 366:
    raise ImproperlyConfigured("CHAT_BACKUP_ROTATION_DAYS must be between 1 and 366.")
# Erasure tombstones (retention/tombstones.py). In production: storage that is NOT restored with the
# database (a separate volume), or a restore brings the old tombstones back with the old data.
CHAT_TOMBSTONE_DIR = env.str("CHAT_TOMBSTONE_DIR", default=str(VAR_DIR / "tombstones"))
CHAT_MAX_MESSAGE_CHARS = 4000
CHAT_MAX_FRAME_BYTES = 64 * 1024
CHAT_MAX_CONTEXT_BYTES = env.int("CHAT_MAX_CONTEXT_BYTES", default=4096)
CHAT_MAX_CONNECTIONS_PER_IP = env.int("CHAT_MAX_CONNECTIONS_PER_IP", default=20)

# --- What the register keeps of what it is sent (chat/identifiers.py, chat/services.py) -------
# Personal identity codes, card numbers and IBANs in any text that is stored: "mask" (replaced by a
# placeholder before anything is stored), "warn" (stored as typed, the widget warns the visitor
# first) or "off".
CHAT_IDENTIFIER_POLICY = env.str("CHAT_IDENTIFIER_POLICY", default="mask")
if CHAT_IDENTIFIER_POLICY not in ("mask", "warn", "off"):
    raise ImproperlyConfigured("CHAT_IDENTIFIER_POLICY must be mask, warn or off.")


def iso_date(name: str, default: str):
    """A date as YYYY-MM-DD, refused if malformed."""
    from datetime import date

    raw = env.str(name, default=default)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {raw!r} is not a date (YYYY-MM-DD).") from None


# The day the accessibility of the widget and the console was last reviewed (docs/accessibility.md);
# the accessibility statement at /accessibility/ shows it. Change it when the review is redone.
CHAT_ACCESSIBILITY_REVIEWED_ON = iso_date("CHAT_ACCESSIBILITY_REVIEWED_ON", "2026-12-06")


def name_list(name: str) -> list[str]:
    """A comma-separated list of names (query parameters, context keys), refused if malformed."""
    raw = env.str(name, default="")
    values = raw.split(",") if raw else []
    for value in values:
        if not value or value != value.strip() or not value.isprintable() or len(value) > 100:
            raise ImproperlyConfigured(f"{name}: {value!r} is not a name (comma separated list).")
    return values


# Query parameters of page URLs that are kept (e.g. "lang,course"); every other parameter and
# every fragment is dropped before a page is stored.
CHAT_PAGE_QUERY_PARAMS = name_list("CHAT_PAGE_QUERY_PARAMS")
# Host context keys that are stored; other keys are dropped (and counted in the reply).
CHAT_CONTEXT_KEYS = name_list("CHAT_CONTEXT_KEYS")
# The raw user-agent string is parsed into browser, OS and device type and then forgotten,
# unless this is on.
_STORE_USER_AGENT = env.str("CHAT_STORE_USER_AGENT", default="0").strip().lower()
if _STORE_USER_AGENT not in ("0", "1", "false", "true", "no", "yes", "off", "on"):
    raise ImproperlyConfigured("CHAT_STORE_USER_AGENT must be 0 or 1.")
CHAT_STORE_USER_AGENT = _STORE_USER_AGENT in ("1", "true", "yes", "on")
# A connection's slot is a lease its process renews; a process that dies frees its slots after
# at most this long (realtime/limits.py).
CHAT_CONNECTION_LEASE_SECONDS = env.int("CHAT_CONNECTION_LEASE_SECONDS", default=60)
if not 3 <= CHAT_CONNECTION_LEASE_SECONDS <= 3600:
    raise ImproperlyConfigured("CHAT_CONNECTION_LEASE_SECONDS must be between 3 and 3600.")
CHAT_MESSAGES_PER_MINUTE = env.int("CHAT_MESSAGES_PER_MINUTE", default=30)
CHAT_MESSAGES_PER_MINUTE_PER_IP = env.int("CHAT_MESSAGES_PER_MINUTE_PER_IP", default=120)
CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP = env.int(
    "CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP", default=10
)
CHAT_FRAMES_PER_MINUTE = env.int("CHAT_FRAMES_PER_MINUTE", default=600)
CHAT_AGENT_OFFLINE_GRACE_SECONDS = env.int("CHAT_AGENT_OFFLINE_GRACE_SECONDS", default=30)
# A socket must send its first frame within this time, and a frame (ping) at least this often.
CHAT_FIRST_FRAME_TIMEOUT_SECONDS = env.int("CHAT_FIRST_FRAME_TIMEOUT_SECONDS", default=30)
CHAT_IDLE_TIMEOUT_SECONDS = env.int("CHAT_IDLE_TIMEOUT_SECONDS", default=30 * 60)
# At a graceful stop (SIGTERM) every socket is told to reconnect after a random delay of up to
# this many seconds, so that a restarted server's clients do not all come back at once.
CHAT_RESTART_SPREAD_SECONDS = env.float("CHAT_RESTART_SPREAD_SECONDS", default=5.0)
if not 0.5 <= CHAT_RESTART_SPREAD_SECONDS <= 60:
    raise ImproperlyConfigured("CHAT_RESTART_SPREAD_SECONDS must be between 0.5 and 60.")
# Events reach their group's members in the publishing process at once, and the other processes
# through Redis marked with their origin (chat/layer_adapter.py). Every release since this one
# understands the mark; a rolling deploy from an earlier release runs with this off, then turns
# it on with a second rolling restart.
CHAT_LOCAL_DELIVERY = env.bool("CHAT_LOCAL_DELIVERY", default=True)
# How often an open console socket rechecks that its account may still use the console.
AGENT_SOCKET_RECHECK_SECONDS = env.int("AGENT_SOCKET_RECHECK_SECONDS", default=15)
# The cycle collector in a Daphne process (helao_chat/gc_policy.py): what survives is frozen
# every this many seconds (0: never), and everything is collected once every this many seconds.
CHAT_GC_FREEZE_SECONDS = env.float("CHAT_GC_FREEZE_SECONDS", default=10.0)
CHAT_GC_FULL_COLLECT_SECONDS = env.float("CHAT_GC_FULL_COLLECT_SECONDS", default=600.0)
# Load shedding (realtime/admission.py): new messages are refused with `overloaded` while the
# process has stayed this far behind for half a second (0 turns it off); clients resend after
# about CHAT_SHED_RETRY_MS.
CHAT_SHED_LAG_MS = env.int("CHAT_SHED_LAG_MS", default=250)
if CHAT_SHED_LAG_MS < 0:
    raise ImproperlyConfigured("CHAT_SHED_LAG_MS must be 0 (off) or a number of milliseconds.")
CHAT_SHED_RETRY_MS = env.int("CHAT_SHED_RETRY_MS", default=1000)
if not 100 <= CHAT_SHED_RETRY_MS <= 60000:
    raise ImproperlyConfigured("CHAT_SHED_RETRY_MS must be between 100 and 60000.")
# Threads (each with a database connection) per Daphne process for websocket work.
CHAT_DB_THREADS = env.int("CHAT_DB_THREADS", default=8)
# On PostgreSQL, messages into active conversations are stored from the event loop with group
# commit (chat/writer.py): this many connections per process, each writing one batch at a time.
CHAT_GROUP_COMMIT = env.bool("CHAT_GROUP_COMMIT", default=True)
CHAT_GROUP_COMMIT_CONNECTIONS = env.int("CHAT_GROUP_COMMIT_CONNECTIONS", default=3)
# A batch not committed within this time is reported "not stored" to its senders, who resend.
CHAT_GROUP_COMMIT_TIMEOUT_SECONDS = env.float("CHAT_GROUP_COMMIT_TIMEOUT_SECONDS", default=5.0)
CHAT_DORMANT_ACCOUNT_DAYS = env.int("CHAT_DORMANT_ACCOUNT_DAYS", default=60)
# Every server frame stays under this many bytes of UTF-8 JSON (realtime/frames.py): lists (history,
# the queue, an agent's chats) are sent in pages the client follows. It must leave room below
# the socket's 64 KiB for the largest single item: a visitor panel with the largest host context
# (up to 4 bytes per character) and one page visit of the longest URLs.
CHAT_MAX_SERVER_FRAME_BYTES = env.int("CHAT_MAX_SERVER_FRAME_BYTES", default=48 * 1024)
if not 4 * CHAT_MAX_CONTEXT_BYTES + 32 * 1024 <= CHAT_MAX_SERVER_FRAME_BYTES <= 63 * 1024:
    raise ImproperlyConfigured(
        "CHAT_MAX_SERVER_FRAME_BYTES must be between 4 x CHAT_MAX_CONTEXT_BYTES + 32 KiB "
        "and 63 KiB."
    )
# Each Daphne process checks that the channel layer delivers: a probe to itself this often, to
# come back within as long (realtime/layer_health.py); 0 turns it off. An outage is noticed within
# twice this, which must stay inside the overlap a resume re-sends (chat/selectors.py, 5 s).
CHAT_LAYER_PROBE_SECONDS = env.float("CHAT_LAYER_PROBE_SECONDS", default=2.0)
if CHAT_LAYER_PROBE_SECONDS and not 0.1 <= CHAT_LAYER_PROBE_SECONDS <= 2.4:
    raise ImproperlyConfigured("CHAT_LAYER_PROBE_SECONDS must be 0 (off) or 0.1-2.4 seconds.")

# --- Content Security Policy (django-csp 4): no inline script anywhere ---------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging: never visitor IPs, tokens or message text -----------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"one_line": {"()": "realtime.logging.OneLineFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["one_line"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's request logger would print client addresses of failing requests.
        "django.request": {"level": "ERROR"},
        "django.security.DisallowedHost": {"handlers": [], "propagate": False},
        # Daphne's access log carries client IPs; it is off unless the operator routes it.
        "daphne.access": {"handlers": [], "propagate": False},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
