"""A small ASGI application for tests of the served process (`python -m helao_chat.serve`)
itself, without the product: a websocket is accepted and then only listens.

- a text frame `boom` makes the application raise;
- on `/stubborn/` the application does not end when its socket closes;
- any HTTP request gets `ok`.
"""

from __future__ import annotations

import asyncio


async def application(scope, receive, send):
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            if scope["path"] == "/stubborn/":
                await asyncio.sleep(3600)
            return
        if message.get("text") == "boom":
            raise RuntimeError("boom")
