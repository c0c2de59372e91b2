"""A tiny Django project for baseline A (its own database, its own channel prefix)."""

import os

SECRET_KEY = "bench-baseline-a-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels", "bench.baseline_a"]
ROOT_URLCONF = "bench.baseline_a.urls"
ASGI_APPLICATION = "bench.baseline_a.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_A_DB", "helao_bench_a"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        # Persistent connections, as any sane deployment; CONN_MAX_AGE=0 is far slower.
        "CONN_MAX_AGE": int(os.environ.get("BENCH_A_CONN_MAX_AGE", "60")),
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("CHANNEL_PREFIX", "helao-bench-a"),
        },
    }
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
