"""Redis behind Sentinel: the cache backend and the clients of realtime/limits.py find the current
primary through the Sentinels (redis-py's `Sentinel`), as channels-redis and kombu do for the
channel layer and the Celery broker (settings.py configures those).

A connection that meets a demoted primary (READONLY) or a dead one is dropped; the next command
asks the Sentinels again. With plain REDIS_URL nothing here is used.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SentinelCacheClient(RedisCacheClient):
    """Django's Redis cache client, on the primary that the Sentinels name."""

    # Set by RedisCacheClient.__init__ (Django's own, undeclared in its type stubs).
    _pools: dict[int, Any]
    _pool_options: dict[str, Any]

    def __init__(
        self,
        servers,
        *,
        sentinels: list[tuple[str, int]],
        master_name: str,
        sentinel_kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(servers, **options)
        self._sentinels = [tuple(s) for s in sentinels]
        self._master_name = master_name
        self._sentinel_kwargs = sentinel_kwargs or {}

    def _get_connection_pool(self, write):
        if 0 not in self._pools:
            from redis.sentinel import Sentinel, SentinelConnectionPool

            sentinel = Sentinel(self._sentinels, sentinel_kwargs=self._sentinel_kwargs)
            self._pools[0] = SentinelConnectionPool(
                self._master_name, sentinel, **self._pool_options
            )
        return self._pools[0]


class SentinelRedisCache(RedisCache):
    """`CACHES` backend: LOCATION is not used; OPTIONS hold `sentinels` and `master_name`."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SentinelCacheClient


def async_client(**kwargs: Any):
    """A redis.asyncio client on the cache's Redis (the Sentinels' primary, or LOCATION)."""
    import redis.asyncio

    conf = settings.CACHES["default"]
    options = dict(conf.get("OPTIONS") or {})
    if "sentinels" not in options:
        return redis.asyncio.Redis.from_url(conf["LOCATION"], **kwargs)
    from redis.asyncio.sentinel import Sentinel

    sentinel = Sentinel(
        [tuple(s) for s in options.pop("sentinels")],
        sentinel_kwargs={**options.pop("sentinel_kwargs", {}), **kwargs},
    )
    master_name = options.pop("master_name")
    return sentinel.master_for(master_name, **options, **kwargs)
