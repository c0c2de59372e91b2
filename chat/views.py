"""HTTP endpoints of the chat: health, the widget loader and panel, the privacy notice."""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from . import selectors

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("healthz: database check failed", exc_info=True)
        return False


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    try:
        channel = await layer.new_channel("healthz.")
        await asyncio.wait_for(layer.send(channel, {"type": "healthz.ping"}), timeout=2)
        reply = await asyncio.wait_for(layer.receive(channel), timeout=2)
        return reply.get("type") == "healthz.ping"
    except Exception:
        logger.warning("healthz: channel layer check failed")
        return False


@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """Database, channel layer and retention status as JSON; 503 when something is down."""
    from asgiref.sync import sync_to_async

    database = await sync_to_async(_database_ok)()
    layer = await _channel_layer_ok()
    retention = await sync_to_async(selectors.retention_status)() if database else None
    status = "ok" if database and layer else "error"
    if status == "ok" and retention and retention["status"] != "ok":
        status = "degraded"
    body = {
        "status": status,
        "database": "ok" if database else "error",
        "channel_layer": "ok" if layer else "error",
        "retention": retention,
        "time": timezone.now().isoformat(),
    }
    return JsonResponse(body, status=503 if status == "error" else 200)


def demo(request: HttpRequest) -> HttpResponse:
    """A page that embeds the widget, as a customer's site would."""
    return render(request, "chat/demo.html", {"debug": settings.DEBUG})
