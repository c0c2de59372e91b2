"""Redis behind Sentinel: a primary, a replica and three Sentinels (real redis-server processes),
two Daphne processes configured with REDIS_SENTINELS / REDIS_SENTINEL_MASTER only. Three visitors
on one process and an agent on the other chat both ways with numbered messages (every message
crosses between the processes through the channel layer) while the primary is killed and the
Sentinels promote the replica. Nothing may be lost or stored twice; afterwards the channel
layer, the rate-limit cache and the Celery broker all work on the new primary.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request

import pytest

from .numbered import open_chats, run_through
from .sentinel import MASTER, SentinelCluster
from .stack import ROOT, Stack

pytestmark = [pytest.mark.services, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentinel")
    cluster = SentinelCluster(tmp)
    try:
        stack = Stack(
            tmp,
            env={
                "REDIS_SENTINELS": cluster.sentinels,
                "REDIS_SENTINEL_MASTER": MASTER,
                "CHAT_MESSAGES_PER_MINUTE": "100000",
                "CHAT_MESSAGES_PER_MINUTE_PER_IP": "100000",
                "CHAT_FRAMES_PER_MINUTE": "100000",
            },
        )
    except BaseException:
        cluster.stop()
        raise
    try:
        yield stack, cluster
    finally:
        stack.stop()
        cluster.stop()


def _send_purge_task(stack) -> str:
    """Queues the purge task the way beat does, in a process with the stack's settings."""
    code = (
        "import django; django.setup()\n"
        "from helao_chat.celery import app\n"
        "app.send_task('chat.tasks.purge_expired')\n"
        "print(app.connection_for_write().as_uri())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_a_sentinel_failover_loses_and_duplicates_nothing(deployment):
    stack, cluster = deployment
    assert stack.redis.port not in (cluster.primary_port, cluster.replica_port)
    cookie = await asyncio.to_thread(stack.login)
    a, b = stack.ports
    chat = await open_chats(
        count=3,
        visitor_url=lambda: f"ws://127.0.0.1:{a}/ws/visitor/",
        agent_url=lambda: f"ws://127.0.0.1:{b}/ws/agent/",
        origin=None,
        cookie=cookie,
    )
    # Rate-limit counters are in the Sentinels' primary, not in the plain REDIS_URL's Redis.
    assert any(b"limit:" in key for key in cluster.client().keys("*"))
    failover: dict[str, float] = {}

    async def kill_primary() -> None:
        failover["seconds"] = await asyncio.to_thread(cluster.kill_primary)

    figures = await run_through(chat, kill_primary)
    print(f"Redis Sentinel failover ({failover['seconds']:.1f} s to promote): {figures}")
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert cluster.master_port() == cluster.replica_port
    texts = [t for side in chat.visitors for t in side.sent] + list(chat.agent.sent)
    assert stack.count("SELECT count(*) FROM chat_message WHERE text = ANY(%s)", texts) == len(
        texts
    )
    assert stack.count(
        "SELECT count(DISTINCT text) FROM chat_message WHERE text = ANY(%s)", texts
    ) == len(texts)

    # The cache and the broker are on the new primary too.
    new_primary = cluster.client()
    new_primary.delete("celery")
    assert "sentinel://" in _send_purge_task(stack)
    assert new_primary.llen("celery") == 1
    for port in stack.ports:
        health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10))
        assert health["channel_layer"] == "ok", health
