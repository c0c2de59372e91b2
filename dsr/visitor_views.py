"""The visitor's own rights from the widget: a copy of the conversation, and its erasure.

Both are POSTs from the panel, which runs on the chat origin, with the conversation's token in a
JSON body: a token never goes into a URL (history, access logs, Referer). They carry no cookie
and need none, so they are not open to cross-site request forgery the way a cookie-authenticated
form is: a forged request would have to know the 256-bit token. Still, as defence in depth, only
the chat's own origin may call them (the `Origin` header, sent by browsers on every POST), and
only with `Content-Type: application/json`, which a cross-site form cannot send and which makes
any cross-origin script ask a CORS preflight that is never granted. Django's CSRF cookie cannot
be used here anyway: inside a customer's page the panel is a third-party frame, where browsers
block or partition cookies.

An unknown, malformed, erased or purged token gets the same 404: nothing says whether a
conversation exists. Each answer is `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chat.views import json_error, token_posted
from realtime import limits

from . import data_requests as dsr


def _token(request: HttpRequest) -> tuple[Any, JsonResponse | None]:
    """The token from the JSON body, or the error response that refuses the request."""
    if not settings.CHAT_VISITOR_SELF_SERVICE:
        return None, json_error("not_found", 404)
    token, refused = token_posted(request, limits.ip_self_service_allowed)
    if refused is None and not isinstance(token, str):
        return None, json_error("bad_frame", 400)
    return token, refused


def _file(fmt: str, export: dsr.Export) -> dict[str, str]:
    return {
        "format": fmt,
        "filename": export.filename,
        "type": export.content_type,
        "content": export.content,
    }


@csrf_exempt
@never_cache
@require_POST
def visitor_export(request: HttpRequest) -> JsonResponse:
    """The visitor's conversation as a readable text and as JSON, in the chat's language."""
    token, refused = _token(request)
    if refused:
        return refused
    export = dsr.visitor_self_export(token=token)
    if export is None:
        return json_error("not_found", 404)
    return JsonResponse(
        {
            "reference": export.reference,
            "files": [_file("text", export.text), _file("json", export.json)],
        }
    )


@csrf_exempt
@never_cache
@require_POST
def visitor_erase(request: HttpRequest) -> JsonResponse:
    """Erases the visitor's conversation everywhere, at once and for good."""
    token, refused = _token(request)
    if refused:
        return refused
    deleted = dsr.visitor_self_erase(token=token)
    if deleted is None:
        return json_error("not_found", 404)
    return JsonResponse({"erased": True})
