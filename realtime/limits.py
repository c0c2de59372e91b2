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
import dataclasses
import functools
import hashlib
import itertools
import logging
import os
import secrets
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
    from .redis_sentinel import async_client

    # Short timeouts: a dead Redis must not hold messages up (the limits then fail open).
    return async_client(socket_timeout=0.5, socket_connect_timeout=0.5)


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
def ip_self_service_allowed(ip: str | None) -> bool:
    """Downloads and deletions from the widget per address and hour (tokens are unguessable;
    this bounds the cost of building exports, not the odds of guessing)."""
    return _window_hit(_ip_key("self", ip), settings.CHAT_SELF_SERVICE_PER_HOUR_PER_IP, 3600)


def ip_public_form_allowed(ip: str | None) -> bool:
    """Public forms (the accessibility statement's feedback) per address and hour: the same
    allowance as the widget's downloads and deletions, in a count of its own."""
    return _window_hit(_ip_key("form", ip), settings.CHAT_SELF_SERVICE_PER_HOUR_PER_IP, 3600)


def ip_answer_link_allowed(ip: str | None) -> bool:
    """Openings of the e-mail's one-time link per address and hour: the same allowance as the
    widget's downloads and deletions, in a count of its own (a link token is unguessable; this
    keeps anyone from trying)."""
    return _window_hit(_ip_key("link", ip), settings.CHAT_SELF_SERVICE_PER_HOUR_PER_IP, 3600)


# --- Open connections per address: leases, not a counter ------------------------------------
# A slot is a member of the address's sorted set in Redis whose score is when it expires. The
# process renews the leases of its live sockets every LEASE_RENEW_SECONDS; a process that dies
# without closing its sockets (kill -9, a lost host) stops renewing, and its slots are free
# CHAT_CONNECTION_LEASE_SECONDS later. A counter could drift for good (a release lost to a crash
# or a timeout counted against the address, a whole office behind one NAT, for an hour).


@dataclasses.dataclass(frozen=True, slots=True)
class Slot:
    """One socket's place among its address's connections."""

    key: str
    member: str
    #: Held in Redis (else in this process only: no Redis, or Redis was down when it was taken).
    shared: bool


_slot_ids = itertools.count()
#: The member of a slot counted in this process only (no Redis configured).
LOCAL = "local"
_local_slots: collections.Counter[str] = collections.Counter()


def _lease_seconds() -> int:
    return settings.CHAT_CONNECTION_LEASE_SECONDS


def _renew_seconds() -> float:
    return _lease_seconds() / 3


def _new_member() -> str:
    # Unique across processes and restarts: the host's process id can repeat, a random part not.
    return f"{_PROCESS_TAG}:{next(_slot_ids)}"


_PROCESS_TAG = secrets.token_hex(6)


def _refresh_process_tag() -> None:
    global _PROCESS_TAG
    _PROCESS_TAG = secrets.token_hex(6)


os.register_at_fork(after_in_child=_refresh_process_tag)


#: Takes a slot in one command: expired leases dropped, this one added, and taken back at once
#: if the address is then over its limit. 1: taken; 0: the address has all it may have.
TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if count > tonumber(ARGV[5]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
return 1
"""


async def ip_connection_acquire_async(ip: str | None) -> Slot | None:
    """A slot for one more socket from `ip`, or None when the address has all it may have.

    If Redis cannot be reached the socket is let in (per-address limits fail open; the
    per-socket limits still hold) with a slot of this process only.
    """
    key = _ip_key("conn", ip)
    client = _async_redis()
    if client is None:
        if _local_slots[key] >= settings.CHAT_MAX_CONNECTIONS_PER_IP:
            return None
        _local_slots[key] += 1
        return Slot(key, LOCAL, shared=False)
    slot = Slot(_shared_key(key), _new_member(), shared=True)
    taking = SlotTake(slot)
    await _slot_takes.get().add(taking)
    if taking.taken is False:
        return None
    if taking.taken is None:  # Redis did not answer (logged once for the batch)
        return Slot(slot.key, "", shared=False)
    _leases.get().hold(slot)
    return slot


async def ip_connection_release_async(slot: Slot) -> None:
    """Gives the slot back; never raises (a lost release expires with its lease)."""
    if not slot.shared:
        if slot.member == LOCAL and _local_slots.get(slot.key):
            _local_slots[slot.key] -= 1
            if not _local_slots[slot.key]:
                del _local_slots[slot.key]
        return
    _leases.get().drop(slot)
    await _slot_releases.get().release(slot)


class Leases:
    """The slots of this event loop's live sockets, renewed in one round trip per period."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.held: dict[str, set[str]] = collections.defaultdict(set)
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None

    def hold(self, slot: Slot) -> None:
        self.held[slot.key].add(slot.member)
        if self.timer is None:
            self.timer = self.loop.call_later(_renew_seconds(), self._renew_soon)

    def drop(self, slot: Slot) -> None:
        members = self.held.get(slot.key)
        if members is not None:
            members.discard(slot.member)
            if not members:
                del self.held[slot.key]

    def _renew_soon(self) -> None:
        self.timer = None
        if self.held:
            self.task = self.loop.create_task(self.renew())

    async def renew(self) -> None:
        """Moves every held lease's expiry a full period ahead (adding it back if Redis lost
        it, e.g. after a restart, so live sockets keep counting)."""
        expires = time.time() + _lease_seconds()
        held = {key: dict.fromkeys(members, expires) for key, members in self.held.items()}
        try:
            async with _async_redis().pipeline(transaction=False) as pipe:
                for key, members in held.items():
                    pipe.zadd(key, members)
                    pipe.expire(key, _lease_seconds())
                await pipe.execute()
        except Exception:
            logger.warning(
                "rate-limit cache unavailable; %d connection lease(s) not renewed",
                sum(len(m) for m in held.values()),
            )
        if self.held and self.timer is None:
            self.timer = self.loop.call_later(_renew_seconds(), self._renew_soon)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


_leases: PerLoop[Leases] = PerLoop(Leases, Leases.close)


class SlotReleases(RoundTrips[dict]):
    """Connection slots given back to Redis together, one pipelined round trip at a time.

    Many sockets close at once when the other side goes away (a network blip, a proxy restart,
    the end of a load test): a command each, a thousand of them raced the client's 0.5 s
    timeout on a busy event loop. Now the releases that arrive while one round trip is under
    way go together in the next. One that fails anyway expires with its lease.
    """

    def __init__(self, client) -> None:
        self.client = client
        super().__init__()

    def release(self, slot: Slot) -> asyncio.Future:
        """Gives `slot` back; the future is done once Redis has it (or it failed)."""
        return self.add(slot)

    def _empty(self) -> dict:
        return collections.defaultdict(list)

    def _add(self, pending: dict, slot: Slot) -> None:
        pending[slot.key].append(slot.member)

    def _failed(self, batch: dict, exc: Exception) -> None:
        logger.warning(
            "rate-limit cache unavailable; %d connection slot(s) left to expire",
            sum(len(m) for m in batch.values()),
        )

    async def _send(self, batch: dict[str, list[str]]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for key, members in batch.items():
                pipe.zrem(key, *members)
            await pipe.execute()


_slot_releases = PerLoop(lambda _loop: SlotReleases(_async_redis()))


@dataclasses.dataclass(slots=True)
class SlotTake:
    """One socket asking for a slot, and the answer: taken, refused (False), or None when
    Redis did not answer."""

    slot: Slot
    taken: bool | None = None


class SlotTakes(RoundTrips[list]):
    """Connection slots taken together (TAKE_SLOT each, pipelined), one round trip at a time.

    Every socket of a restarted process comes back within seconds: one command each took more
    connections than the client's pool holds, and those over it failed open (no slot, no
    limit) with a warning each, 3,000 in one storm.
    """

    def __init__(self, client) -> None:
        self.client = client
        self.script = client.register_script(TAKE_SLOT)
        super().__init__()

    def _empty(self) -> list:
        return []

    def _add(self, pending: list, take: SlotTake) -> None:
        pending.append(take)

    def _failed(self, batch: list, exc: Exception) -> None:
        logger.warning(
            "rate-limit cache unavailable; %d connection(s) allowed without a shared slot",
            len(batch),
        )

    async def _send(self, batch: list[SlotTake]) -> None:
        now = time.time()
        lease = _lease_seconds()
        limit = settings.CHAT_MAX_CONNECTIONS_PER_IP
        async with self.client.pipeline(transaction=False) as pipe:
            for take in batch:
                await self.script(
                    keys=[take.slot.key],
                    args=[now, take.slot.member, now + lease, lease, limit],
                    client=pipe,
                )
            replies = await pipe.execute()
        for take, reply in zip(batch, replies, strict=True):
            take.taken = bool(reply)


_slot_takes = PerLoop(lambda _loop: SlotTakes(_async_redis()))
