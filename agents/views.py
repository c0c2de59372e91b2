"""The agent console's pages. Each checks access, calls one selector or service, renders.

Every page needs a login with the console permission; anyone else gets a bare 403 that says
nothing about what is behind it. The history and its transcripts follow the need-to-know rule of
`selectors.history_scope`, and refuse with a 404 whatever the reason, so that a refusal never
tells whether a chat exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.shortcuts import render as django_render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from chat import hooks
from chat.models import AuditEvent, Conversation, Message
from chat.selectors import wrap_up_of
from chat.services import ChatError, audit_record, display_name
from realtime.net import request_client_ip

from . import floor, selectors, services
from .forms import HistorySearchForm
from .middleware import LOGIN_AT_KEY, STAFF_PATHS
from .models import AgentProfile
from .pages import may_use_console, may_view_floor
from .roles import VIEW_FLOOR
from .types import StaffRequest

View = Callable[..., HttpResponse]


def render(request: HttpRequest, template: str, context: dict | None = None) -> HttpResponse:
    # base.html reads LANGUAGE_CODE for <html lang>; the agent's own choice, not the browser's.
    return django_render(
        request, template, {"LANGUAGE_CODE": translation.get_language(), **(context or {})}
    )


class ConsoleRequest(StaffRequest):
    """A request that passed `console_view` or `history_view`, with what they found."""

    agent_profile: AgentProfile
    history_scope: str


def console_view(permission: str | None = None) -> Callable[[View], View]:
    """Login + the console permission (+ `permission`); activates the agent's language."""

    def decorator(view: View) -> View:
        @wraps(view)
        @never_cache
        def wrapper(request: ConsoleRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not may_use_console(request) or (permission and not user.has_perm(permission)):
                raise PermissionDenied
            profile = getattr(request, "agent_profile", None) or services.profile_get(user=user)
            translation.activate(profile.language)
            request.LANGUAGE_CODE = profile.language
            request.agent_profile = profile
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def history_view(view: View) -> View:
    """Login, then `selectors.history_scope`: anything short of it is a 404. The view gets the
    scope as `request.history_scope`."""

    @wraps(view)
    @never_cache
    def wrapper(request: ConsoleRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        profile = getattr(request, "agent_profile", None)
        if profile is None:
            profile = AgentProfile.objects.filter(user=user).first()
        scope = selectors.history_scope(user, profile)
        if scope is None or profile is None:
            raise Http404
        translation.activate(profile.language)
        request.LANGUAGE_CODE = profile.language
        request.agent_profile = profile
        request.history_scope = scope
        return view(request, *args, **kwargs)

    return wrapper


logout = auth_views.LogoutView.as_view()

#: The page "Sign in again" (the console's warning before the sign-in ends) leads to.
RENEWED_URL = "/console/signed-in-again/"


def signin_seconds_left(request: HttpRequest) -> int | None:
    """Seconds until the sign-in's absolute lifetime ends it; None for a session that predates
    the login time (it is not ended by age)."""
    login_at = request.session.get(LOGIN_AT_KEY)
    if not isinstance(login_at, int | float):
        return None
    return max(0, int(login_at + settings.SESSION_ABSOLUTE_LIFETIME_SECONDS - time.time()))


@console_view()
def console(request: ConsoleRequest) -> HttpResponse:
    if not selectors.guidance_acknowledged(request.user):
        return redirect("agents:guidance")
    config = {
        "me": {"id": request.user.pk, "name": display_name(request.user)},
        "language": request.agent_profile.language,
        "time_zone": settings.TIME_ZONE,
        "socket_path": "/ws/agent/",
        "login_url": settings.LOGIN_URL,
        "keepalive_url": "/console/keepalive/",
        "idle_seconds": settings.SESSION_COOKIE_AGE,
        # The sign-in's absolute end (agents/middleware.py), in seconds from now: the console
        # warns before it and offers to sign in again in another tab (WCAG 2.2.1).
        "signin_seconds_left": signin_seconds_left(request),
        "renew_url": f"{settings.LOGIN_URL}?{urlencode({'renew': '1', 'next': RENEWED_URL})}",
        "heartbeat_seconds": selectors.heartbeat_seconds(),
        "can_view_history": selectors.history_scope(request.user, request.agent_profile)
        is not None,
    }
    return render(request, "agents/console.html", {"config": config, "strings": _strings()})


@console_view()
def guidance(request: ConsoleRequest) -> HttpResponse:
    if request.method == "POST":
        services.guidance_acknowledge(user=request.user, actor_ip=request_client_ip(request))
        return redirect("agents:console")
    return render(
        request,
        "agents/guidance.html",
        {
            "retention_months": settings.CHAT_RETENTION_MONTHS,
            "acknowledged_at": request.agent_profile.guidance_acknowledged_at
            if selectors.guidance_acknowledged(request.user)
            else None,
        },
    )


@require_POST
@console_view()
def language(request: ConsoleRequest) -> HttpResponse:
    try:
        services.language_set(user=request.user, language=request.POST.get("language", ""))
    except ChatError:
        return HttpResponse(status=400)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}) or not target.startswith(
        STAFF_PATHS
    ):
        target = "/console/"
    return redirect(target)


@require_POST
@console_view()
def keepalive(request: ConsoleRequest) -> HttpResponse:
    """The console calls this while the agent is active, so that only real idleness expires
    the session (the socket alone does not renew it)."""
    return HttpResponse(status=204)


@console_view()
def signed_in_again(request: ConsoleRequest) -> HttpResponse:
    """Where "Sign in again" ends: tells the console's tab that the sign-in is new (with its
    time left and its account), so the console carries on with it, unchanged."""
    config = {"seconds_left": signin_seconds_left(request), "user_id": request.user.pk}
    return render(request, "agents/signed_in_again.html", {"config": config})


@history_view
def history(request: ConsoleRequest) -> HttpResponse:
    agents = [(a["id"], a["name"]) for a in selectors.colleagues()]
    form = HistorySearchForm(request.GET or None, agents=agents)
    filters: dict = {}
    if form.is_bound and form.is_valid():
        filters = form.filters()
        used = sorted(k for k, v in filters.items() if v)
        if used:
            # That a search happened and by what kind of filter; never the words searched for.
            audit_record(
                action=AuditEvent.Action.SEARCH,
                actor=request.user,
                object_ref="history",
                actor_ip=request_client_ip(request),
                detail={
                    "filters": used,
                    "agent_id": filters.get("agent_id"),
                    "date_from": filters["date_from"].date().isoformat()
                    if filters.get("date_from")
                    else None,
                    "date_to": request.GET.get("date_to") or None,
                },
            )
    page = selectors.history_page(
        request.user, request.history_scope, number=request.GET.get("page"), **filters
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "agents/history.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "retention_months": settings.CHAT_RETENTION_MONTHS,
            "reads_all": request.history_scope == selectors.ALL,
        },
    )


@history_view
def transcript(request: ConsoleRequest, reference: str) -> HttpResponse:
    conversation = selectors.transcript(request.user, request.history_scope, reference)
    if conversation is None:
        raise Http404
    audit_record(
        action=AuditEvent.Action.TRANSCRIPT_OPENED,
        actor=request.user,
        object_ref=conversation.reference,
        actor_ip=request_client_ip(request),
    )
    return render(
        request,
        "agents/transcript.html",
        {
            "conversation": conversation,
            "messages": conversation.messages.order_by("id"),
            "panel": selectors.visitor_panel(conversation),
            "system": Message.Sender.SYSTEM,
            "note": Message.Sender.NOTE,
            "wrap_up": wrap_up_of(conversation, request.agent_profile.language),
            "feedback": hooks.conversation_feedback(conversation.pk),
        },
    )


# --- the floor view (team leads, the service director) -------------------------------------

#: The session remembers which live chats this login opened for monitoring (each opening is
#: audited); the page's updates are served only for those.
MONITORED_KEY = "floor_monitored"


def floor_view(view: View) -> View:
    """`console_view(VIEW_FLOOR)`, `pages.may_view_floor` (the navigation's test) and the
    current guidance acknowledgement."""

    @console_view(VIEW_FLOOR)
    @wraps(view)
    def wrapper(request: ConsoleRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_view_floor(request):
            raise PermissionDenied
        if not selectors.guidance_current(request.agent_profile):
            return redirect("agents:guidance")
        return view(request, *args, **kwargs)

    return wrapper


@floor_view
def floor_page(request: ConsoleRequest) -> HttpResponse:
    state = floor.floor_state(request.agent_profile.language)
    return render(
        request,
        "agents/floor.html",
        {"floor": state, "strings": _floor_strings(), "refresh_seconds": FLOOR_REFRESH_SECONDS},
    )


FLOOR_REFRESH_SECONDS = 5


@floor_view
def floor_data(request: ConsoleRequest) -> JsonResponse:
    return JsonResponse(floor.floor_state(request.agent_profile.language))


@floor_view
def floor_monitor(request: ConsoleRequest, reference: str) -> HttpResponse:
    """A live chat, read-only; the opening is audited like a transcript's."""
    conversation = floor.live_conversation(reference)
    if conversation is None:
        raise Http404
    audit_record(
        action=AuditEvent.Action.CHAT_MONITORED,
        actor=request.user,
        object_ref=conversation.reference,
        actor_ip=request_client_ip(request),
    )
    opened = set(request.session.get(MONITORED_KEY, []))
    opened.add(conversation.reference)
    request.session[MONITORED_KEY] = sorted(opened)[-50:]
    return render(
        request,
        "agents/monitor.html",
        {
            "conversation": conversation,
            "chat_messages": conversation.messages.order_by("id"),
            "system": Message.Sender.SYSTEM,
            "config": {
                "reference": conversation.reference,
                "last_id": conversation.messages.order_by("-id")
                .values_list("id", flat=True)
                .first(),
                "refresh_seconds": MONITOR_REFRESH_SECONDS,
            },
            "strings": _floor_strings(),
        },
    )


MONITOR_REFRESH_SECONDS = 3


@floor_view
def floor_monitor_messages(request: ConsoleRequest, reference: str) -> JsonResponse:
    """New messages of a live chat this login opened for monitoring; nothing for any other."""
    if reference not in request.session.get(MONITORED_KEY, []):
        raise Http404
    conversation = Conversation.objects.filter(reference=reference).first()
    if conversation is None:
        raise Http404
    try:
        after_id = int(request.GET.get("after") or 0)
    except ValueError:
        return JsonResponse({"error": "after must be a message id"}, status=400)
    return JsonResponse(
        {
            "status": conversation.status,
            "messages": floor.monitored_messages(conversation, after_id),
        }
    )


def _floor_strings() -> dict[str, str]:
    from .strings import floor_strings

    return floor_strings()


def _strings() -> dict[str, object]:
    """The console's words in the agent's language, handed to console.js."""
    from .strings import console_strings

    return console_strings()
