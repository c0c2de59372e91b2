"""Baseline B: a bare asyncio pipeline doing the chat's work with nothing else in the way.

`websockets` server + psycopg async pool + Redis pub/sub (redis.asyncio): each message is
inserted and committed, then published on the conversation's channel; one pattern subscription
per process fans it out to the local sockets of that conversation (so several processes work).

    python -m bench.baseline_b --port 18010 --dsn postgres://... --redis redis://... --prefix p
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from websockets.asyncio.server import ServerConnection, serve

SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_b_message (
    id bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL,
    sender varchar(8) NOT NULL,
    text text NOT NULL,
    client_msg_id varchar(64) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bench_b_message_conv ON bench_b_message (conversation_id);
"""
INSERT = (
    "INSERT INTO bench_b_message (conversation_id, sender, text, client_msg_id) "
    "VALUES (%s, %s, %s, %s) RETURNING id"
)


class Hub:
    def __init__(self, pool: AsyncConnectionPool, redis: aioredis.Redis, prefix: str) -> None:
        self.pool = pool
        self.redis = redis
        self.prefix = prefix
        self.local: dict[int, set[ServerConnection]] = defaultdict(set)

    def channel(self, conversation_id: int) -> str:
        return f"{self.prefix}:conv.{conversation_id}"

    async def store_and_publish(self, conversation_id: int, sender: str, frame: dict) -> None:
        text = str(frame.get("text", ""))
        client_msg_id = str(frame.get("client_msg_id", ""))
        async with self.pool.connection() as conn:
            cur = await conn.execute(INSERT, (conversation_id, sender, text, client_msg_id))
            (message_id,) = await cur.fetchone()
        # The pool's context manager committed before we get here: persist, then publish.
        payload = json.dumps(
            {
                "type": "message.new",
                "message": {
                    "id": message_id,
                    "conversation_id": conversation_id,
                    "sender": sender,
                    "text": text,
                    "client_msg_id": client_msg_id,
                },
            },
            separators=(",", ":"),
        )
        await self.redis.publish(self.channel(conversation_id), payload)

    async def fan_out(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.psubscribe(f"{self.prefix}:conv.*")
        async for item in pubsub.listen():
            if item["type"] != "pmessage":
                continue
            channel = item["channel"].decode()
            conversation_id = int(channel.rsplit(".", 1)[1])
            data = item["data"].decode()
            for ws in list(self.local.get(conversation_id, ())):
                with contextlib.suppress(Exception):
                    await ws.send(data)

    async def handler(self, ws: ServerConnection) -> None:
        url = urlsplit(ws.request.path)
        query = parse_qs(url.query)
        is_agent = url.path.startswith("/ws/agent/")
        sender = "agent" if is_agent else "visitor"
        joined: set[int] = set()
        if not is_agent and query.get("conv"):
            joined.add(int(query["conv"][0]))
            self.local[int(query["conv"][0])].add(ws)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "join" and is_agent:
                    conversation_id = int(frame["conversation_id"])
                    joined.add(conversation_id)
                    self.local[conversation_id].add(ws)
                    reply = {"type": "joined", "conversation_id": conversation_id}
                    await ws.send(json.dumps(reply))
                elif kind == "message.send":
                    conversation_id = (
                        int(frame.get("conversation_id") or 0) if is_agent else next(iter(joined))
                    )
                    if conversation_id in joined:
                        await self.store_and_publish(conversation_id, sender, frame)
        finally:
            for conversation_id in joined:
                self.local[conversation_id].discard(ws)


async def main(port: int, dsn: str, redis_url: str, prefix: str) -> None:
    pool = AsyncConnectionPool(dsn, min_size=2, max_size=8, open=False)
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.execute(SCHEMA)
    redis = aioredis.Redis.from_url(redis_url, max_connections=64)
    hub = Hub(pool, redis, prefix)
    fan_out = asyncio.create_task(hub.fan_out())
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(hub.handler, "127.0.0.1", port, max_size=65536, ping_interval=20):
        await stop
    fan_out.cancel()
    await pool.close()
    await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", default="helao-bench-b")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.dsn, args.redis, args.prefix))
