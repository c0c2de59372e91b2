"""Rate and connection limits, per connection (in memory) and per IP (in the shared cache).

With REDIS_URL set the cache is Redis, so per-IP limits hold across every Daphne process.
The cache keys hold a hash of the address, never the address itself.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def _fail_open(func):
    """Per-IP limits need the shared cache; if it is down, allow rather than refuse every visitor.

    Per-connection limits (in memory) still hold, so a single socket cannot flood meanwhile.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            logger.warning("rate-limit cache unavailable; %s allowed", func.__name__)
            return True

    return wrapper


def _ip_key(kind: str, ip: str | None) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{ip}".encode()).hexdigest()[:24]
    return f"limit:{kind}:{digest}"


class TokenBucket:
    """Allows `rate` events per `per` seconds on average, with bursts up to `rate`."""

    def __init__(self, rate: int, per: float) -> None:
        self.capacity = float(max(rate, 1))
        self.tokens = self.capacity
        self.fill_rate = self.capacity / per
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.fill_rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _window_hit(key: str, limit: int, window: int) -> bool:
    """Counts one event in a fixed window; False once `limit` is exceeded."""
    bucket = f"{key}:{int(time.time() // window)}"
    added = cache.add(bucket, 1, timeout=window * 2)
    if added:
        return limit >= 1
    try:
        count = cache.incr(bucket)
    except ValueError:
        cache.set(bucket, 1, timeout=window * 2)
        count = 1
    return count <= limit


@_fail_open
def ip_message_allowed(ip: str | None) -> bool:
    return _window_hit(_ip_key("msg", ip), settings.CHAT_MESSAGES_PER_MINUTE_PER_IP, 60)


@_fail_open
def ip_new_conversation_allowed(ip: str | None) -> bool:
    return _window_hit(_ip_key("conv", ip), settings.CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP, 3600)


# Open connections per IP: a counter with a TTL so that a crashed process cannot leak slots
# forever; live connections refresh it.
CONNECTION_TTL = 3600


@_fail_open
def ip_connection_acquire(ip: str | None) -> bool:
    key = _ip_key("conn", ip)
    cache.add(key, 0, timeout=CONNECTION_TTL)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=CONNECTION_TTL)
        count = 1
    if count > settings.CHAT_MAX_CONNECTIONS_PER_IP:
        ip_connection_release(ip)
        return False
    cache.touch(key, CONNECTION_TTL)
    return True


@_fail_open
def ip_connection_release(ip: str | None) -> None:
    key = _ip_key("conn", ip)
    try:
        if cache.decr(key) < 0:
            cache.set(key, 0, timeout=CONNECTION_TTL)
    except ValueError:
        pass
