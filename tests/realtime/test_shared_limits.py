"""Per-address message counts shared by several processes through Redis, synced in batches."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from realtime.limits import SharedWindowCounter
from tests.addresses import REDIS_URL
from tests.conftest import count_round_trips

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

REDIS = REDIS_URL


async def test_two_processes_share_one_limit_once_they_have_synced():
    client = redis.asyncio.Redis.from_url(REDIS)
    key = "test-shared-limit:addr"
    for old in await client.keys(f"*{key}*"):
        await client.delete(old)
    first = SharedWindowCounter(client, window=60)
    second = SharedWindowCounter(client, window=60)
    assert [first.hit(key, 5) for _ in range(3)] == [True, True, True]
    await first.flush()
    # The second process learns the shared total when it sends its own count.
    assert second.hit(key, 5)
    await second.flush()
    assert second.known and list(second.known.values()) == [4]
    assert second.hit(key, 5)
    assert not second.hit(key, 5)
    await second.flush()
    # The first process now learns that the address has used up the window.
    assert first.hit(key, 6)
    await first.flush()
    assert not first.hit(key, 6)
    keys = await client.keys(f"*{key}*")
    assert len(keys) == 1 and 0 < await client.ttl(keys[0]) <= 120
    await client.delete(*keys)
    await client.aclose()


async def test_without_redis_each_process_still_limits_and_keeps_its_counts():
    dead = redis.asyncio.Redis.from_url(
        "redis://127.0.0.1:9/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    counter = SharedWindowCounter(dead, window=60, sync_seconds=30)
    assert [counter.hit("k", 2) for _ in range(3)] == [True, True, False]
    await counter.flush()
    assert sum(counter.unsent.values()) == 2
    assert not counter.hit("k", 2)
    await dead.aclose()


@pytest.mark.django_db
async def test_shared_keys_match_the_cache_and_build_no_cache_per_task(monkeypatch):
    from django.core.cache import cache, caches

    from realtime import limits

    assert limits._shared_key("limit:x") == cache.make_key("limit:x")
    built = []
    original = caches.create_connection
    monkeypatch.setattr(
        caches, "create_connection", lambda alias: built.append(alias) or original(alias)
    )

    async def one_socket():
        return limits._shared_key(limits._ip_key("conn", "203.0.113.7"))

    keys = await asyncio.gather(*(asyncio.create_task(one_socket()) for _ in range(3)))
    assert len(set(keys)) == 1 and built == []


async def test_slots_given_back_together_share_round_trips_and_all_arrive(caplog):
    from realtime.limits import Slot, SlotReleases

    client = redis.asyncio.Redis.from_url(REDIS)
    keys = [f"test-slot-release:{i}" for i in range(3)]
    await client.delete(*keys)
    slots = [Slot(keys[i % 3], f"m{i}", shared=True) for i in range(1200)]
    for slot in slots:
        await client.zadd(slot.key, {slot.member: 2e9})
    releases = SlotReleases(client)
    round_trips = count_round_trips(releases)
    # A thousand sockets closing at once, spread over three addresses.
    await asyncio.gather(*(releases.release(slot) for slot in slots))
    assert [await client.zcard(key) for key in keys] == [0, 0, 0]
    assert len(round_trips) <= 3, "the first release goes alone, the rest together"
    assert "left to expire" not in caplog.text
    await client.aclose()


async def test_a_dead_redis_loses_the_releases_with_a_warning_and_holds_nobody_up(caplog):
    from realtime.limits import Slot, SlotReleases

    dead = redis.asyncio.Redis.from_url(
        "redis://127.0.0.1:9/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    releases = SlotReleases(dead)
    await asyncio.wait_for(
        asyncio.gather(*(releases.release(Slot(f"k{i % 2}", str(i), True)) for i in range(50))),
        timeout=5,
    )
    assert "connection slot(s) left to expire" in caplog.text
    assert releases.flushing is None and not releases.pending
    await dead.aclose()


async def _until(condition, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


@pytest.fixture
def short_leases(settings):
    from realtime import limits

    settings.CHAT_CONNECTION_LEASE_SECONDS = 3
    settings.CHAT_MAX_CONNECTIONS_PER_IP = 2
    limits._leases.reset()
    yield
    limits._leases.reset()


@pytest.mark.django_db
async def test_slots_of_a_process_that_stopped_renewing_free_themselves(short_leases):
    from realtime import limits

    ip = "198.51.100.90"
    held = [await limits.ip_connection_acquire_async(ip) for _ in range(2)]
    assert all(slot is not None and slot.shared for slot in held)
    assert await limits.ip_connection_acquire_async(ip) is None
    # The process dies without a word: nobody gives the slots back or renews them.
    limits._leases.reset()

    async def admitted() -> bool:
        slot = await limits.ip_connection_acquire_async(ip)
        if slot is not None:
            await limits.ip_connection_release_async(slot)
        return slot is not None

    await _until(admitted)


@pytest.mark.django_db
async def test_live_sockets_keep_their_slots_past_the_lease(short_leases):
    from realtime import limits

    ip = "198.51.100.91"
    held = [await limits.ip_connection_acquire_async(ip) for _ in range(2)]
    client = redis.asyncio.Redis.from_url(REDIS)
    first_expiry = await client.zscore(held[0].key, held[0].member)

    async def renewed_past_first_lease() -> bool:
        score = await client.zscore(held[0].key, held[0].member)
        return score is not None and score > first_expiry + 3

    await _until(renewed_past_first_lease)
    assert await limits.ip_connection_acquire_async(ip) is None
    for slot in held:
        await limits.ip_connection_release_async(slot)
    slot = await limits.ip_connection_acquire_async(ip)
    assert slot is not None
    await limits.ip_connection_release_async(slot)
    await client.aclose()


@pytest.mark.django_db
async def test_a_refused_slot_leaves_nothing_behind_and_a_restarted_redis_is_fine(short_leases):
    """A slot is taken in one script: the refusal takes itself back within it."""
    from realtime import limits

    ip = "198.51.100.92"
    held = [await limits.ip_connection_acquire_async(ip) for _ in range(2)]
    client = redis.asyncio.Redis.from_url(REDIS)
    assert await limits.ip_connection_acquire_async(ip) is None
    assert await client.zcard(held[0].key) == 2
    assert 0 < await client.ttl(held[0].key) <= 3
    # Redis forgot its scripts (a restart): the next slot loads it again.
    await client.script_flush()
    await limits.ip_connection_release_async(held[0])
    slot = await limits.ip_connection_acquire_async(ip)
    assert slot is not None and slot.shared
    for each in (held[1], slot):
        await limits.ip_connection_release_async(each)
    await client.aclose()


@pytest.mark.django_db
async def test_a_thousand_sockets_at_once_all_get_an_answer_from_redis(settings, caplog):
    """More at once than the client's pool has connections: none fails open."""
    from realtime import limits

    settings.CHAT_MAX_CONNECTIONS_PER_IP = 700
    limits._leases.reset()
    slots = await asyncio.gather(
        *(limits.ip_connection_acquire_async("198.51.100.93") for _ in range(1000))
    )
    taken = [s for s in slots if s is not None]
    assert len(taken) == 700 and all(s.shared for s in taken)
    assert "unavailable" not in caplog.text
    await asyncio.gather(*(limits.ip_connection_release_async(s) for s in taken))
    limits._leases.reset()
