"""The page the answer notice's one-time link opens (chat/contact.py), and the call that spends it.

The page is on the chat server's own origin, so whatever it keeps is first-party storage, which
the chat page (`/chat/`) reads. The link's token is in the URL's fragment: the page's script reads
it and, on the visitor's click, posts it here like the widget's own rights calls (JSON, same
origin only, rate-limited per address; no cookie, so no CSRF token). A used, expired, unknown or
malformed token gets the same 404 and the page says that the link has been used or has expired.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from realtime import limits

from . import contact
from .models import ControllerDetails
from .views import WIDGET_LANGUAGES, json_error, token_posted


def _language(request: HttpRequest) -> str:
    lang = (request.GET.get("lang") or "").lower()[:2]
    return lang if lang in WIDGET_LANGUAGES else settings.LANGUAGE_CODE[:2]


@require_GET
def answer_page(request: HttpRequest) -> HttpResponse:
    """Asks for one click before the link is spent (a mail scanner that fetches it spends
    nothing), then the script keeps the chat's token and opens `/chat/`."""
    lang = _language(request)
    site = ControllerDetails.current().website
    with translation.override(lang):
        if site:
            next_visit = gettext(
                "The answer also shows in the chat on your next visit to %(site)s, in the "
                "browser you wrote from."
            ) % {"site": site}
        else:
            next_visit = gettext(
                "The answer also shows in the chat the next time you visit the website, in the "
                "browser you wrote from."
            )
        response = render(
            request,
            "chat/answer_link.html",
            {"lang": lang, "next_visit": next_visit, "chat_url": f"/chat/?lang={lang}"},
        )
    response["Content-Language"] = lang
    # The page holds no secret (the token is in the fragment), but is never worth a cache.
    patch_cache_control(response, private=True, no_store=True)
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt
@never_cache
@require_POST
def answer_open(request: HttpRequest) -> JsonResponse:
    """Spends the link's token: a visitor token for that one chat, or 404 (used or expired).
    With CHAT_OFFLINE_CONTACT off no link opens anything (/privacy/ no longer lists them)."""
    if not settings.CHAT_OFFLINE_CONTACT:
        return json_error("gone", 404)
    token, refused = token_posted(request, limits.ip_answer_link_allowed)
    if refused is not None:
        return refused
    session = contact.answer_link_redeem(token)
    if session is None:
        return json_error("gone", 404)
    return JsonResponse({"token": session})
