"""Reads about agents: who may use the console, who is online, what the console shows."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from chat import writer
from chat.models import Conversation, Message
from chat.retention_period import retention_cutoff
from chat.serializers import page_visit_dict, queue_item_dict

from .middleware import session_data_alive
from .models import AgentProfile, CannedReply

# An agent counts as online only while a console keeps its presence fresh (heartbeat). This is
# the fallback for a server that died without telling; a closed tab is handled after the
# shorter CHAT_AGENT_OFFLINE_GRACE_SECONDS by the consumer.
PRESENCE_STALE_AFTER = timedelta(seconds=90)


def offline_grace() -> timedelta:
    return timedelta(seconds=settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS)


def heartbeat_seconds() -> int:
    """How often a console refreshes its presence: well inside the grace period."""
    return max(1, min(30, settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS // 3))


def console_users() -> QuerySet:
    """Active accounts holding the console permission, directly, by group or as superuser."""
    # Semi-joins instead of joining both permission paths and DISTINCT over every column: that
    # form makes PostgreSQL estimate millions of rows and spend seconds JIT-compiling it.
    from django.contrib.auth.models import Permission

    User = get_user_model()
    perm = Permission.objects.filter(codename="use_console", content_type__app_label="agents")
    direct = User.user_permissions.through.objects.filter(permission__in=perm).values("user_id")
    by_group = User.groups.through.objects.filter(group__permissions__in=perm).values("user_id")
    return User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(pk__in=direct) | Q(pk__in=by_group)
    )


# Stands for the account's id while the access query is compiled (never a real primary key).
_ANY_ACCOUNT = -7_654_321


@functools.cache
def _console_user_sql(alias: str) -> tuple[str, list[Any], int]:
    """`console_users()` for one account, compiled once per process and database.

    Building the query with the ORM (two permission subqueries) cost ~3.6 ms of CPU, ten times
    running it, and every open console rechecks its access every few seconds.
    """
    query = console_users().filter(pk=_ANY_ACCOUNT).values("pk")[:1].query
    sql, params = query.get_compiler(using=alias).as_sql()
    params = list(params)
    return sql, params, params.index(_ANY_ACCOUNT)


def _console_user_query(user_id: int) -> tuple[str, list[Any]]:
    """The compiled `console_users()` query and its parameters for one account."""
    sql, params, slot = _console_user_sql(DEFAULT_DB_ALIAS)
    return sql, [*params[:slot], user_id, *params[slot + 1 :]]


def can_use_console(user) -> bool:
    """Re-reads the account, so a deactivation or a lost permission counts at once."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    # One query (the permission rule of `console_users`), where loading the account and asking
    # `has_perm` took three; compiled once (see `_console_user_sql`).
    sql, params = _console_user_query(user.pk)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


DB_SESSIONS = "django.contrib.sessions.backends.db"


@functools.cache
def _session_data_sql() -> str:
    """The stored session's data, if not expired (the database session store's table)."""
    from django.contrib.sessions.models import Session

    meta = Session._meta
    return (
        f"SELECT {meta.get_field('session_data').column} FROM {meta.db_table} "  # noqa: S608
        f"WHERE {meta.get_field('session_key').column} = %s "
        f"AND {meta.get_field('expire_date').column} > %s"
    )


async def console_login_valid(user, session_key: str | None) -> bool | None:
    """`can_use_console` and `middleware.session_alive` from the event loop, in one query on the
    message writer's connections (no database thread): a console rechecks its login every few
    seconds. None where that cannot be done (no writer, sessions not in the database): then
    the caller runs both in a thread.
    """
    current = writer.writer()
    if current is None or settings.SESSION_ENGINE != DB_SESSIONS:
        return None
    if user is None or not getattr(user, "is_authenticated", False) or not session_key:
        return False
    access, access_params = _console_user_query(user.pk)
    session_data, allowed = await current.fetch_one(
        f"SELECT ({_session_data_sql()}), EXISTS({access})",
        [session_key, timezone.now(), *access_params],
    )
    if not allowed or session_data is None:
        return False
    data = import_module(DB_SESSIONS).SessionStore().decode(session_data)
    return session_data_alive(data, user.pk)


def fresh_since(now: datetime | None = None) -> datetime:
    """A presence last refreshed before this moment is stale (shown as offline)."""
    return (now or timezone.now()) - PRESENCE_STALE_AFTER


def online_profiles() -> QuerySet[AgentProfile]:
    return AgentProfile.objects.filter(
        presence=AgentProfile.Presence.ONLINE,
        presence_seen_at__gte=fresh_since(),
        user__in=console_users(),
    )


def any_agent_online() -> bool:
    return online_profiles().exists()


def effective_presence(profile: AgentProfile) -> str:
    """The presence colleagues see: a presence nobody has refreshed lately is offline."""
    if profile.presence == AgentProfile.Presence.OFFLINE:
        return profile.presence
    if profile.presence_seen_at < fresh_since():
        return AgentProfile.Presence.OFFLINE
    return profile.presence


def colleagues() -> list[dict[str, Any]]:
    """Every console user with the presence colleagues see, by name."""
    from chat.services import display_name

    users = list(console_users().select_related("agent_profile"))
    rows = []
    for user in users:
        profile = getattr(user, "agent_profile", None)
        presence = effective_presence(profile) if profile else AgentProfile.Presence.OFFLINE
        rows.append({"id": user.pk, "name": display_name(user), "presence": presence})
    return sorted(rows, key=lambda r: r["name"].lower())


def guidance_acknowledged(user) -> bool:
    from .services import GUIDANCE_VERSION

    profile = AgentProfile.objects.filter(user=user).first()
    return bool(
        profile
        and profile.guidance_acknowledged_at
        and profile.guidance_version >= GUIDANCE_VERSION
    )


def canned_replies() -> list[dict[str, str]]:
    return [
        {"shortcut": c.shortcut, "title": c.title, "language": c.language, "text": c.text}
        for c in CannedReply.objects.all()
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def queue_item(conversation: Conversation) -> dict[str, Any]:
    """A waiting conversation as the queue shows it: first message and current page."""
    first = conversation.messages.filter(sender=Message.Sender.VISITOR).order_by("id").first()
    page = conversation.page_visits.order_by("-id").first()
    return queue_item_dict(
        conversation,
        first.text if first else "",
        {"url": page.url, "title": page.title} if page else None,
    )


def queue() -> list[dict[str, Any]]:
    waiting = Conversation.objects.filter(status=Conversation.Status.WAITING).order_by(
        "created_at", "id"
    )
    return [queue_item(c) for c in waiting]


def visitor_panel(conversation: Conversation) -> dict[str, Any]:
    """Everything the agent may know of the visitor: connection, device, pages, host context."""
    connection = conversation.connections.order_by("-id").first()
    pages = [page_visit_dict(p) for p in conversation.page_visits.order_by("id")]
    context = conversation.host_contexts.order_by("-id").first()
    end = conversation.claimed_at or timezone.now()
    return {
        "conversation_id": conversation.pk,
        "reference": conversation.reference,
        "ip_address": connection.ip_address if connection else None,
        "browser": connection.browser if connection else "",
        "os": connection.os if connection else "",
        "device_type": connection.device_type if connection else "",
        "language": (connection.language if connection else "") or conversation.language,
        "screen": connection.screen if connection else "",
        "pages": pages,
        "current_page": pages[-1] if pages else None,
        "referrer": next((p["referrer"] for p in pages if p["referrer"]), ""),
        "context": context.data if context else {},
        "started_at": _iso(conversation.created_at),
        "claimed_at": _iso(conversation.claimed_at),
        "waited_seconds": max(0, int((end - conversation.created_at).total_seconds())),
    }


def history(
    *,
    text: str = "",
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    agent_id: int | None = None,
) -> QuerySet[Conversation]:
    """Conversations still within retention, newest first, filtered as asked."""
    qs = Conversation.objects.filter(created_at__gte=retention_cutoff()).select_related(
        "assigned_agent"
    )
    if text:
        qs = qs.filter(messages__text__icontains=text)
    if date_from:
        qs = qs.filter(created_at__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__lt=date_to)
    if agent_id:
        qs = qs.filter(Q(assigned_agent_id=agent_id) | Q(messages__agent_id=agent_id))
    return qs.distinct().order_by("-created_at")


def transcript(reference: str) -> Conversation | None:
    return (
        Conversation.objects.filter(reference=reference, created_at__gte=retention_cutoff())
        .select_related("assigned_agent")
        .first()
    )
