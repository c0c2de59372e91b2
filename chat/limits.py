"""Rate and connection limits, per connection (in memory) and per IP (in the shared cache).

With REDIS_URL set the cache is Redis, so per-IP limits hold across every Daphne process.
The cache keys hold a hash of the address, never the address itself.

Consumers use the `*_async` forms: on Redis they send their commands in one pipelined round trip
from the event loop (no thread hop, no client object per command); with the in-memory cache they
call the sync form, which does no I/O. Both share the same keys and counters.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import get_key_func

from .batching import RoundTrips
from .loops import PerLoop

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


def _fail_open_async(func):
    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        try:
            return await func(*args, **kwargs)
        except Exception:
            logger.warning("rate-limit cache unavailable; %s allowed", func.__name__)
            return True

    return wrapper


def _redis_client(_loop):
    import redis.asyncio

    # Short timeouts: a dead Redis must not hold messages up (the limits then fail open).
    return redis.asyncio.Redis.from_url(
        settings.CACHES["default"]["LOCATION"], socket_timeout=0.5, socket_connect_timeout=0.5
    )


_redis_clients = PerLoop(_redis_client)


def _async_redis():
    """A redis.asyncio client for this event loop on the cache's Redis, or None (no Redis)."""
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        return None
    return _redis_clients.get()


def _shared_key(key: str) -> str:
    """`cache.make_key(key)`, without the cache object.

    Django's cache handle is per task on an event loop: using it there would build a cache
    backend (and its client) for every socket.
    """
    conf = settings.CACHES["default"]
    return _key_func(conf.get("KEY_FUNCTION"))(
        key, conf.get("KEY_PREFIX", ""), conf.get("VERSION", 1)
    )


# Resolved once: a KEY_FUNCTION given as a dotted path would otherwise be imported per message.
_key_func = functools.lru_cache(maxsize=8)(get_key_func)


def _ip_key(kind: str, ip: str | None) -> str:
    return f"limit:{kind}:{_ip_digest(ip, settings.SECRET_KEY)}"


@functools.lru_cache(maxsize=4096)
def _ip_digest(ip: str | None, secret: str) -> str:
    return hashlib.sha256(f"{secret}:{ip}".encode()).hexdigest()[:24]


class TokenBucket:
    """Allows `rate` events per `per` seconds on average, with bursts up to `rate`."""

    __slots__ = ("capacity", "fill_rate", "stamp", "tokens")

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


async def _window_hit_async(key: str, limit: int, window: int) -> bool:
    client = _async_redis()
    if client is None:
        return _window_hit(key, limit, window)
    bucket = _shared_key(f"{key}:{int(time.time() // window)}")
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(bucket)
        pipe.expire(bucket, window * 2)
        count, _ = await pipe.execute()
    return count <= limit


class SharedWindowCounter:
    """Fixed-window counts per key, shared by every process through Redis, with no round trip
    per event.

    The process counts locally and about every `sync_seconds` sends what it counted since
    (INCRBY, one pipeline for all keys) and learns each key's total over all processes. A key is
    refused once its last known total plus what this process counted since reaches `limit`;
    between two syncs several processes may together let through a little more than `limit`.
    If Redis is unreachable the local counts still limit each process (and are sent later).
    """

    def __init__(self, client, *, window: int, sync_seconds: float = 1.0) -> None:
        self.client = client
        self.window = window
        self.sync_seconds = sync_seconds
        self.known: dict[str, int] = {}
        self.unsent: dict[str, int] = {}
        self.flush_scheduled = False
        self._task: asyncio.Task | None = None

    def hit(self, key: str, limit: int) -> bool:
        bucket = _shared_key(f"{key}:{int(time.time() // self.window)}")
        if self.known.get(bucket, 0) + self.unsent.get(bucket, 0) >= limit:
            return False
        self.unsent[bucket] = self.unsent.get(bucket, 0) + 1
        self._schedule_flush()
        return True

    def _schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_later(self.sync_seconds, self._flush_soon)

    def _flush_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.flush())
        self._task = task  # referenced until the next flush replaces it

    async def flush(self) -> None:
        self.flush_scheduled = False
        unsent, self.unsent = self.unsent, {}
        current = int(time.time() // self.window)
        # Totals of past windows are of no further use.
        self.known = {
            b: n for b, n in self.known.items() if int(b.rsplit(":", 1)[1]) >= current - 1
        }
        if not unsent:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for bucket, n in unsent.items():
                    pipe.incrby(bucket, n)
                    pipe.expire(bucket, self.window * 2)
                replies = await pipe.execute()
        except Exception:
            logger.warning("rate-limit cache unavailable; per-address counts kept locally")
            for bucket, n in unsent.items():
                self.unsent[bucket] = self.unsent.get(bucket, 0) + n
            self._schedule_flush()
            return
        # Hits counted while the pipeline ran stay in `unsent` for the next flush.
        for bucket, total in zip(unsent, replies[::2], strict=True):
            self.known[bucket] = int(total)


_message_counters = PerLoop(lambda _loop: SharedWindowCounter(_async_redis(), window=60))


@_fail_open_async
async def ip_message_allowed_async(ip: str | None) -> bool:
    """The per-address message limit, counted in this process and shared through Redis."""
    client = _async_redis()
    if client is None:
        return ip_message_allowed(ip)
    return _message_counters.get().hit(_ip_key("msg", ip), settings.CHAT_MESSAGES_PER_MINUTE_PER_IP)


@_fail_open_async
async def ip_new_conversation_allowed_async(ip: str | None) -> bool:
    return await _window_hit_async(
        _ip_key("conv", ip), settings.CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP, 3600
    )


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


@_fail_open_async
async def ip_connection_acquire_async(ip: str | None) -> bool:
    client = _async_redis()
    if client is None:
        return ip_connection_acquire(ip)
    key = _shared_key(_ip_key("conn", ip))
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, CONNECTION_TTL)
        count, _ = await pipe.execute()
    if count > settings.CHAT_MAX_CONNECTIONS_PER_IP:
        await client.decr(key)
        return False
    return True


class SlotReleases(RoundTrips[collections.Counter]):
    """Connection slots given back to Redis together, one pipelined round trip at a time.

    Many sockets close at once when the other side goes away (a network blip, a proxy restart,
    the end of a load test): a command each, a thousand of them raced the client's 0.5 s
    timeout on a busy event loop, and every one that lost left its slot counted against its
    address until the key expired (CONNECTION_TTL). Now the releases that arrive while one
    round trip is under way go together in the next.
    """

    def __init__(self, client) -> None:
        self.client = client
        super().__init__()

    def release(self, key: str) -> asyncio.Future:
        """Counts one slot of `key` as given back; the future is done once Redis has it."""
        return self.add(key)

    def _empty(self) -> collections.Counter:
        return collections.Counter()

    def _add(self, pending: collections.Counter, key: str) -> None:
        pending[key] += 1

    def _failed(self, batch: collections.Counter, exc: Exception) -> None:
        logger.warning(
            "rate-limit cache unavailable; %d connection slot(s) not released", sum(batch.values())
        )

    async def _send(self, batch: collections.Counter[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for key, count in batch.items():
                pipe.decrby(key, count)
            counts = await pipe.execute()
        below = [key for key, count in zip(batch, counts, strict=True) if count < 0]
        if below:  # more released than held (an expired key): never count below zero
            async with self.client.pipeline(transaction=False) as pipe:
                for key in below:
                    pipe.set(key, 0, ex=CONNECTION_TTL)
                await pipe.execute()


_slot_releases = PerLoop(lambda _loop: SlotReleases(_async_redis()))


async def ip_connection_release_async(ip: str | None) -> None:
    client = _async_redis()
    if client is None:
        ip_connection_release(ip)
        return
    await _slot_releases.get().release(_shared_key(_ip_key("conn", ip)))
