"""The agent console's pages. Each checks access, calls one selector or service, renders.

Every page needs a login with the console permission; anyone else gets a bare 403 that says
nothing about what is behind it. The history and its transcripts follow the need-to-know rule of
`selectors.history_scope`, and refuse with a 404 whatever the reason, so that a refusal never
tells whether a chat exists.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render as django_render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from chat import hooks
from chat.models import AuditEvent, Message
from chat.net import request_client_ip
from chat.services import ChatError, audit_record, display_name

from . import selectors, services
from .forms import HistorySearchForm
from .middleware import STAFF_PATHS
from .models import AgentProfile
from .pages import may_use_console


def render(request: HttpRequest, template: str, context: dict | None = None) -> HttpResponse:
    # base.html reads LANGUAGE_CODE for <html lang>; the agent's own choice, not the browser's.
    return django_render(
        request, template, {"LANGUAGE_CODE": translation.get_language(), **(context or {})}
    )


def console_view(permission: str | None = None):
    """Login + the console permission (+ `permission`); activates the agent's language."""

    def decorator(view):
        @wraps(view)
        @never_cache
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
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


def history_view(view):
    """Login, then `selectors.history_scope`: anything short of it is a 404. The view gets the
    scope as `request.history_scope`."""

    @wraps(view)
    @never_cache
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        profile = getattr(request, "agent_profile", None)
        if profile is None:
            profile = AgentProfile.objects.filter(user=user).first()
        scope = selectors.history_scope(user, profile)
        if scope is None:
            raise Http404
        translation.activate(profile.language)
        request.LANGUAGE_CODE = profile.language
        request.agent_profile = profile
        request.history_scope = scope
        return view(request, *args, **kwargs)

    return wrapper


logout = auth_views.LogoutView.as_view()


@console_view()
def console(request: HttpRequest) -> HttpResponse:
    if not selectors.guidance_acknowledged(request.user):
        return redirect("agents:guidance")
    config = {
        "me": {"id": request.user.pk, "name": display_name(request.user)},
        "language": request.agent_profile.language,
        "time_zone": settings.TIME_ZONE,
        "socket_path": "/ws/agent/",
        "login_url": settings.LOGIN_URL,
        "keepalive_url": "/console/keepalive/",
        "heartbeat_seconds": selectors.heartbeat_seconds(),
        "can_view_history": selectors.history_scope(request.user, request.agent_profile)
        is not None,
    }
    return render(request, "agents/console.html", {"config": config, "strings": _strings()})


@console_view()
def guidance(request: HttpRequest) -> HttpResponse:
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
def language(request: HttpRequest) -> HttpResponse:
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
def keepalive(request: HttpRequest) -> HttpResponse:
    """The console calls this while the agent is active, so that only real idleness expires
    the session (the socket alone does not renew it)."""
    return HttpResponse(status=204)


@history_view
def history(request: HttpRequest) -> HttpResponse:
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
    conversations = selectors.history(request.user, request.history_scope, **filters)
    page = Paginator(conversations, 50).get_page(request.GET.get("page"))
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
def transcript(request: HttpRequest, reference: str) -> HttpResponse:
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
            "feedback": hooks.conversation_feedback(conversation.pk),
        },
    )


def _strings() -> dict[str, str]:
    """The console's words in the agent's language, handed to console.js."""
    from .strings import console_strings

    return console_strings()
