"""HTTP endpoints of the chat: health, the widget loader and panel, the privacy notice."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from realtime.net import (
    embed_origins,
    normalise_origin,
    own_origin,
    request_client_ip,
    same_origin_request,
)

from . import hooks, replica, widget_strings
from .retention_period import token_max_age_days

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


def _health_parts() -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {}
    for answer in hooks.call("health"):
        parts.update(answer)
    return parts


@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """Database, channel layer, retention (and replica) status as JSON; 503 when something is
    down, "degraded" (200) when the chat works but something needs an operator."""
    from asgiref.sync import sync_to_async

    database = await sync_to_async(_database_ok)()
    layer = await _channel_layer_ok()
    # The plugged-in parts (retention's status) read the database: none without it.
    parts = await sync_to_async(_health_parts)() if database else {}
    standby = await sync_to_async(replica.health)()
    status = "ok" if database and layer else "error"
    if status == "ok" and (
        any(part["status"] != "ok" for part in parts.values()) or standby not in (None, "ok")
    ):
        status = "degraded"
    body = {
        "status": status,
        "database": "ok" if database else "error",
        "channel_layer": "ok" if layer else "error",
        "retention": None,
        **parts,
        # Only with DATABASE_REPLICA_URL: reports and history then read from the primary.
        **({"database_replica": standby} if standby else {}),
        "time": timezone.now().isoformat(),
    }
    return JsonResponse(body, status=503 if status == "error" else 200)


def chat_page(request: HttpRequest) -> HttpResponse:
    """The chat on the chat server's own page, where the answer notice's link leads; in the
    language the link names (`?lang=`), else the request's."""
    if request.GET.get("lang"):
        with translation.override(_panel_language(request)):
            return render(request, "chat/chat_page.html")
    return render(request, "chat/chat_page.html")


def demo(request: HttpRequest) -> HttpResponse:
    """A page that embeds the widget, as a customer's site would."""
    return render(request, "chat/demo.html", {"debug": settings.DEBUG})


# --- the widget -------------------------------------------------------------------------------

WIDGET_LANGUAGES = ("fi", "sv", "en")
# The loader's URL is fixed (it is pasted into customers' pages), so it cannot be fingerprinted;
# a short lifetime plus an ETag keeps updates flowing without re-sending unchanged bytes.
LOADER_MAX_AGE = 3600


def _static_path(name: str) -> Path | None:
    found = finders.find(name)
    if found:
        return Path(found)
    try:
        path = Path(staticfiles_storage.path(name))
    except NotImplementedError:
        return None
    return path if path.exists() else None


@lru_cache(maxsize=4)
def _read_static(name: str, mtime: float) -> tuple[bytes, bytes, str]:
    path = _static_path(name)
    if path is None:
        raise Http404(name)
    body = path.read_bytes()
    # Compressed once, without the random padding GZipMiddleware adds against BREACH: this
    # file holds no secret, and every byte counts on every customer page.
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return body, packed, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _static_file(name: str) -> tuple[bytes, bytes, str]:
    path = _static_path(name)
    if path is None:
        raise Http404(name)
    return _read_static(name, path.stat().st_mtime)


@require_GET
def widget_js(request: HttpRequest) -> HttpResponse:
    """The loader that customers embed: a launcher button and nothing else until clicked."""
    body, packed, etag = _static_file("widget/loader.js")
    wanted = {
        t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")
    }
    if etag in wanted:
        response = HttpResponse(status=304)
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(packed, content_type="text/javascript; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    patch_vary_headers(response, ["Accept-Encoding"])
    # Any site may load the script itself; it holds nothing secret.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    patch_cache_control(response, public=True, max_age=LOADER_MAX_AGE)
    return response


def _panel_language(request: HttpRequest) -> str:
    lang = (request.GET.get("lang") or "").lower()[:2]
    return lang if lang in WIDGET_LANGUAGES else settings.LANGUAGE_CODE


def _refused_site(request: HttpRequest) -> str | None:
    """The embedding site's origin, as the loader names it (`?o=`), when that site may not
    frame the chat; None when it may, or when the request does not say.

    The browser still enforces the panel's `frame-ancestors`: a site that names an allowed
    origin it is not gets the real panel and the browser refuses to show it, as before.
    """
    claimed = normalise_origin(request.GET.get("o", ""), exact=True)
    if claimed is None or request.headers.get("Sec-Fetch-Site") == "same-origin":
        return None
    return None if claimed in embed_origins() or claimed == own_origin(request) else claimed


def _widget_refused(request: HttpRequest, lang: str, site: str) -> HttpResponse:
    """What a site outside CHAT_EMBED_ORIGINS shows in the panel's place: a message for the
    visitor, and for the site's developer one in the browser console naming the setting.

    It may be framed by that site alone; it holds no chat and nothing of any visitor.
    """
    with translation.override(lang):
        strings = widget_strings.refused_strings(site)
        response = render(
            request,
            "chat/panel_refused.html",
            {"s": strings, "lang": lang, "config": {"site": site, "console": strings["console"]}},
        )
    response._csp_replace = {"frame-ancestors": [site]}  # type: ignore[attr-defined]
    response["Content-Language"] = lang
    patch_cache_control(response, private=True, no_cache=True)
    return response


@require_GET
@xframe_options_exempt
def widget_panel(request: HttpRequest) -> HttpResponse:
    """The chat panel, framed by the loader; only the sites in CHAT_EMBED_ORIGINS may frame it."""
    lang = _panel_language(request)
    site = _refused_site(request)
    if site:
        return _widget_refused(request, lang, site)
    with translation.override(lang):
        strings = widget_strings.panel_strings()
        config = {
            "lang": lang,
            "wsPath": "/ws/visitor/",
            "privacyUrl": "/privacy/",
            "embedOrigins": sorted(embed_origins()),
            "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
            "maxContext": settings.CHAT_MAX_CONTEXT_BYTES,
            # The widget warns before sending a text the server would mask (or, under "warn",
            # store as typed); under "off" it says nothing.
            "identifierPolicy": settings.CHAT_IDENTIFIER_POLICY,
            # How long a browser may keep the visitor's token: never past the retention period.
            "tokenMaxAge": token_max_age_days() * 24 * 3600,
            "feedbackUrl": static("widget/feedback.js")
            if _static_path("widget/feedback.js")
            else None,
            "strings": strings,
        }
        context = {"config": config, "s": strings, "lang": lang}
        # The download and delete buttons (dsr/visitor_views.py); their dialogs are a module of
        # their own (static/widget/rights.js), loaded with their words on first use.
        if settings.CHAT_VISITOR_SELF_SERVICE:
            context["rights"] = widget_strings.rights_buttons()
        if settings.CHAT_OFFLINE_CONTACT:
            context["contact"] = widget_strings.contact_strings()
        response = render(request, "chat/panel.html", context)
    # django-csp's per-response override: the default policy forbids every frame ancestor, and
    # the embed origins are read per request so that a changed setting applies at once.
    policy = {"frame-ancestors": ["'self'", *sorted(embed_origins())]}
    response._csp_replace = policy  # type: ignore[attr-defined]
    response["Content-Language"] = lang
    patch_cache_control(response, private=True, max_age=300)
    return response


@require_GET
def widget_rights_strings(request: HttpRequest) -> JsonResponse:
    """The words of the widget's download and delete dialogs, in the panel's language."""
    lang = _panel_language(request)
    with translation.override(lang):
        response = JsonResponse(widget_strings.rights_strings())
    response["Content-Language"] = lang
    patch_cache_control(response, public=True, max_age=LOADER_MAX_AGE)
    return response


# --- a visitor's token posted from the chat's own pages -----------------------------------------

#: A token is ~43 characters; anything much larger is not a request from the chat's pages.
TOKEN_BODY_BYTES = 1024


def json_error(code: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code}, status=status)


def token_posted(
    request: HttpRequest, allowed: Callable[[str | None], bool]
) -> tuple[Any, JsonResponse | None]:
    """The `token` of a JSON POST from the chat's own origin, or the response that refuses it.

    What every such call checks (the widget's rights, the answer link): the chat's own origin
    only, `Content-Type: application/json` (a cross-site form cannot send it), a small body, the
    address's allowance (`allowed(ip)`), then JSON. The token is returned as sent, whatever its
    type: each caller says what a wrong one gets.
    """
    if not same_origin_request(request):
        return None, json_error("forbidden", 403)
    if request.content_type != "application/json":
        return None, json_error("unsupported_media_type", 415)
    if len(request.body) > TOKEN_BODY_BYTES:
        return None, json_error("too_large", 413)
    if not allowed(request_client_ip(request)):
        return None, json_error("rate_limited", 429)
    try:
        body = json.loads(request.body)
    except ValueError:
        return None, json_error("bad_json", 400)
    return (body.get("token") if isinstance(body, dict) else None), None
