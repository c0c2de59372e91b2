"""Reads about agents: who may use the console, who is online, what the console shows."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Exists, F, Model, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from chat import replica, writer
from chat.models import (
    Conversation,
    HostContext,
    Message,
    PageVisit,
    Participation,
    VisitorConnection,
)
from chat.retention_period import retention_cutoff
from chat.selectors import PreparedChunks
from chat.serializers import display_name, page_visit_dict, queue_item_dict
from realtime import frames
from realtime.prepared import Prepared

from .middleware import session_data_alive
from .models import GUIDANCE_VERSION, AgentProfile, CannedReply
from .roles import READ_ALL_HISTORY, READ_HISTORY
from .types import AnyUser, StaffUser

# An agent counts as online only while a console keeps its presence fresh (heartbeat). This is
# the fallback for a server that died without telling; a closed tab is handled after the
# shorter CHAT_AGENT_OFFLINE_GRACE_SECONDS by the consumer.
PRESENCE_STALE_AFTER = timedelta(seconds=90)


def offline_grace() -> timedelta:
    return timedelta(seconds=settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS)


def heartbeat_seconds() -> int:
    """How often a console refreshes its presence: well inside the grace period."""
    return max(1, min(30, settings.CHAT_AGENT_OFFLINE_GRACE_SECONDS // 3))


def permission_holders(code: str) -> QuerySet:
    """Active accounts holding permission `code` ("app.codename"), directly, by group or as
    superuser."""
    # Semi-joins instead of joining both permission paths and DISTINCT over every column: that
    # form makes PostgreSQL estimate millions of rows and spend seconds JIT-compiling it.
    from django.contrib.auth.models import Permission

    app_label, codename = code.split(".")
    User = get_user_model()
    perm = Permission.objects.filter(codename=codename, content_type__app_label=app_label)
    direct = User.user_permissions.through.objects.filter(permission__in=perm).values("user_id")
    by_group = User.groups.through.objects.filter(group__permissions__in=perm).values("user_id")
    return User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(pk__in=direct) | Q(pk__in=by_group)
    )


def console_users() -> QuerySet:
    """Active accounts holding the console permission, directly, by group or as superuser."""
    return permission_holders("agents.use_console")


# Under CHAT_REQUIRE_2FA=roles: whoever holds one of these (the service director, anyone who can
# read all history, export or erase a visitor's data, or change who has access), and every
# admin user, must sign in with a second factor.
SECOND_FACTOR_PERMISSIONS = (
    READ_ALL_HISTORY,
    "chat.handle_data_requests",
    "agents.review_access",
)


def second_factor_users(mode: str | None = None) -> QuerySet:
    """The accounts that must sign in with a second factor under CHAT_REQUIRE_2FA (`mode`):
    the one rule, for a sign-in, a request and an open console socket alike."""
    mode = mode or settings.CHAT_REQUIRE_2FA
    User = get_user_model()
    if mode == "off":
        return User.objects.none()
    if mode == "all":
        return User.objects.all()
    holders = Q(is_superuser=True) | Q(is_staff=True)
    for code in SECOND_FACTOR_PERMISSIONS:
        holders |= Q(pk__in=permission_holders(code).values("pk"))
    return User.objects.filter(holders)


def second_factor_needed(user_id: int) -> bool:
    """Whether the account must sign in with a second factor now (no query under `off`)."""
    mode = settings.CHAT_REQUIRE_2FA
    if mode == "off":
        return False
    return _one_account(f"second_factor:{mode}").first(user_id) is not None


@functools.cache
def _one_account(rule: str) -> Prepared:
    """The rule's query (`console` users, or `second_factor:<mode>` users) for one account,
    compiled once per process and database.

    Building the query with the ORM (two permission subqueries) cost ~3.6 ms of CPU, ten times
    running it, and every open console rechecks its access every few seconds.
    """

    def build(user_id: int) -> QuerySet:
        if rule == "console":
            users = console_users()
        else:
            users = second_factor_users(rule.removeprefix("second_factor:"))
        return users.filter(pk=user_id).values("pk")[:1]

    return Prepared(build, int)


def _one_account_query(rule: str, user_id: int) -> tuple[str, list[Any]]:
    return _one_account(rule).sql(user_id)


def _console_user_query(user_id: int) -> tuple[str, list[Any]]:
    """The compiled `console_users()` query and its parameters for one account."""
    return _one_account_query("console", user_id)


def can_use_console(user: AnyUser | None) -> bool:
    """Re-reads the account, so a deactivation or a lost permission counts at once."""
    if user is None or not user.is_authenticated or user.pk is None:
        return False
    # One query (the permission rule of `console_users`), where loading the account and asking
    # `has_perm` took three; compiled once (see `_one_account`).
    return _one_account("console").first(user.pk) is not None


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


async def console_login_valid(user: AnyUser | None, session_key: str | None) -> bool | None:
    """`can_use_console`, `second_factor_needed` and `middleware.session_alive` from the event
    loop, in one query on the message writer's connections (no database thread): a console
    rechecks its login every few seconds. None where that cannot be done (no writer, sessions
    not in the database): then the caller runs them in a thread.
    """
    current = writer.writer()
    if current is None or settings.SESSION_ENGINE != DB_SESSIONS:
        return None
    if user is None or user.pk is None or not user.is_authenticated or not session_key:
        return False
    access, access_params = _console_user_query(user.pk)
    mode = settings.CHAT_REQUIRE_2FA
    second_factor_params: list[Any] = []
    if mode == "off":
        second_factor = "FALSE"
    else:
        sql, second_factor_params = _one_account_query(f"second_factor:{mode}", user.pk)
        second_factor = f"EXISTS({sql})"
    row = await current.fetch_one(
        f"SELECT ({_session_data_sql()}), EXISTS({access}), {second_factor}",
        [session_key, timezone.now(), *access_params, *second_factor_params],
    )
    if row is None:  # a SELECT without FROM returns its one row; None only if it did not run
        return None
    session_data, allowed, needs_second_factor = row
    if not allowed or session_data is None:
        return False
    data = import_module(DB_SESSIONS).SessionStore().decode(session_data)
    return session_data_alive(data, user.pk, second_factor_needed=needs_second_factor)


def fresh_since(now: datetime | None = None) -> datetime:
    """A presence last refreshed before this moment is stale (shown as offline)."""
    return (now or timezone.now()) - PRESENCE_STALE_AFTER


def online_profiles(since: datetime | None = None) -> QuerySet[AgentProfile]:
    """Profiles online, refreshed since `since` (default: `fresh_since()`), of console users."""
    return AgentProfile.objects.filter(
        presence=AgentProfile.Presence.ONLINE,
        presence_seen_at__gte=since or fresh_since(),
        user__in=console_users(),
    )


# Asked by the wait estimate of every waiting visitor's welcome and every console's: compiled
# once (the console users' permission rule is most of what building it costs).
_ONLINE_IDS = Prepared(lambda since: online_profiles(since).values_list("pk", flat=True), datetime)


def any_agent_online() -> bool:
    return agents_online_count() > 0


def agents_online_count() -> int:
    return len(_ONLINE_IDS.fetch(fresh_since()))


def agents_online_names() -> list[str]:
    return [display_name(p.user) for p in online_profiles().select_related("user")]


def effective_presence(profile: AgentProfile) -> str:
    """The presence colleagues see: a presence nobody has refreshed lately is offline."""
    if profile.presence == AgentProfile.Presence.OFFLINE:
        return profile.presence
    if profile.presence_seen_at < fresh_since():
        return AgentProfile.Presence.OFFLINE
    return profile.presence


def login_presence(profile: AgentProfile) -> str:
    """The presence a console starts with: the one colleagues see, or, when that is offline (a
    new login), the one the agent last chose."""
    shown = effective_presence(profile)
    if shown != AgentProfile.Presence.OFFLINE:
        return shown
    return profile.chosen_presence


def _colleague(user: AnyUser) -> dict[str, Any]:
    from chat.services import display_name

    profile = getattr(user, "agent_profile", None)
    presence = effective_presence(profile) if profile else AgentProfile.Presence.OFFLINE
    return {"id": user.pk, "name": display_name(user), "presence": presence}


def colleagues() -> list[dict[str, Any]]:
    """Every console user with the presence colleagues see, by name."""
    rows = [_colleague(user) for user in console_users().select_related("agent_profile")]
    return sorted(rows, key=lambda r: r["name"].lower())


def colleagues_after(after_id: int | None) -> Iterator[dict[str, Any]]:
    """`colleagues()` by id after `after_id`, read in chunks (the console's pages)."""
    return (_colleague(user) for user in _COLLEAGUES(after_id=after_id))


_COLLEAGUES = PreparedChunks(lambda: console_users().select_related("agent_profile"))


def guidance_current(profile: AgentProfile | None) -> bool:
    """The profile's owner has acknowledged the current version of the console guidance."""
    return bool(
        profile
        and profile.guidance_acknowledged_at
        and profile.guidance_version >= GUIDANCE_VERSION
    )


def guidance_acknowledged(user: AnyUser) -> bool:
    if user.pk is None:
        return False
    return guidance_current(AgentProfile.objects.filter(user_id=user.pk).first())


def canned_replies(after_id: int | None = None) -> Iterator[dict[str, Any]]:
    """Canned replies by id after `after_id`, read in chunks (the console's pages)."""
    return (
        {
            "id": c.pk,
            "shortcut": c.shortcut,
            "title": c.title,
            "language": c.language,
            "text": c.text,
        }
        for c in _CANNED(after_id=after_id)
    )


_CANNED = PreparedChunks(lambda: CannedReply.objects.all())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def queue(after_id: int | None = None) -> Iterator[dict[str, Any]]:
    """Waiting conversations by id after `after_id` as the queue shows them (first message and
    current page), read in chunks of one query each."""
    return (
        queue_item_dict(
            c,
            c.first_text or "",
            {"url": c.page_url, "title": c.page_title} if c.page_url is not None else None,
        )
        for c in _QUEUE(after_id=after_id)
    )


def _waiting_with_first_message_and_page() -> QuerySet[Conversation]:
    first = Message.objects.filter(
        conversation=OuterRef("pk"), sender=Message.Sender.VISITOR
    ).order_by("id")
    page = PageVisit.objects.filter(conversation=OuterRef("pk")).order_by("-id")
    return Conversation.objects.filter(status=Conversation.Status.WAITING).annotate(
        first_text=Subquery(first.values("text")[:1]),
        page_url=Subquery(page.values("url")[:1]),
        page_title=Subquery(page.values("title")[:1]),
    )


_QUEUE = PreparedChunks(_waiting_with_first_message_and_page)


#: Page visits read for a bounded visitor panel; its list keeps the latest that fit.
PANEL_PAGES_READ = 128


def visitor_panel(conversation: Conversation, *, bounded: bool = False) -> dict[str, Any]:
    """Everything the agent may know of the visitor: connection, device, pages, host context.

    `bounded` (for the console's socket frames) keeps only the latest page visits, in at most a
    sixth of a frame and never more than leaves the panel within one frame's item budget;
    `pages_total` then tells how many there are. The current page and the first referrer are
    always there.
    """
    return visitor_panels([conversation], bounded=bounded)[conversation.pk]


def _latest(model: type[Model], ids: list[int], per_conversation: int | None) -> list[Any]:
    """`model`'s rows of the conversations `ids`, newest first within each, at most
    `per_conversation` of each (None: all)."""
    return _latest_query(model, len(ids), per_conversation).fetch(*ids)


@functools.lru_cache(maxsize=256)
def _latest_query(model: type[Model], conversations: int, per_conversation: int | None) -> Prepared:
    """`_latest` for so many conversations, compiled once (a console reads its chats' panels a
    chunk at a time, so the same few sizes come again)."""

    def build(*ids: int) -> QuerySet:
        rows = model._default_manager.filter(conversation_id__in=list(ids))
        if per_conversation is not None:
            rows = rows.annotate(
                newness=Window(
                    RowNumber(), partition_by=F("conversation_id"), order_by=F("id").desc()
                )
            ).filter(newness__lte=per_conversation)
        return rows.order_by("conversation_id", "-id")

    return Prepared(build, *[int] * conversations)


def visitor_panels(
    conversations: list[Conversation], *, bounded: bool = False
) -> dict[int, dict[str, Any]]:
    """`visitor_panel` of each conversation, by id, in three queries for all of them (a console
    coming back with fifty chats read three queries for each)."""
    ids = list(dict.fromkeys(c.pk for c in conversations))
    if not ids:
        return {}
    connections: dict[int, VisitorConnection] = {}
    for connection in _latest(VisitorConnection, ids, 1):
        connections[connection.conversation_id] = connection
    contexts: dict[int, HostContext] = {}
    for context in _latest(HostContext, ids, 1):
        contexts[context.conversation_id] = context
    visits: dict[int, list[PageVisit]] = {pk: [] for pk in ids}
    for visit in _latest(PageVisit, ids, PANEL_PAGES_READ if bounded else None):
        visits[visit.conversation_id].append(visit)
    return {
        c.pk: _panel(c, connections.get(c.pk), contexts.get(c.pk), visits[c.pk], bounded)
        for c in conversations
    }


def _panel(
    conversation: Conversation,
    connection: VisitorConnection | None,
    context: HostContext | None,
    latest: list[PageVisit],
    bounded: bool,
) -> dict[str, Any]:
    """One visitor panel from its conversation's latest connection and host context and its
    latest page visits (newest first; all of them unless `bounded`)."""
    pages = [page_visit_dict(p) for p in reversed(latest)]
    complete = not bounded or len(latest) < PANEL_PAGES_READ
    if complete:
        referrer = next((p["referrer"] for p in pages if p["referrer"]), "")
    else:
        # Only a panel cut short reads more (a queryset costs ~60 µs to build: a console coming
        # back with fifty chats built fifty it never ran).
        visits = conversation.page_visits.all()
        first = visits.exclude(referrer="").order_by("id").values_list("referrer", flat=True)
        referrer = first.first() or ""
    end = conversation.claimed_at or timezone.now()
    panel = {
        "conversation_id": conversation.pk,
        "reference": conversation.reference,
        "ip_address": connection.ip_address if connection else None,
        "browser": connection.browser if connection else "",
        "os": connection.os if connection else "",
        "device_type": connection.device_type if connection else "",
        "language": (connection.language if connection else "") or conversation.language,
        "screen": connection.screen if connection else "",
        "pages": pages,
        "pages_total": len(pages),
        "current_page": pages[-1] if pages else None,
        "referrer": referrer,
        "context": context.data if context else {},
        "started_at": _iso(conversation.created_at),
        "claimed_at": _iso(conversation.claimed_at),
        "waited_seconds": max(0, int((end - conversation.created_at).total_seconds())),
        "contact_email": conversation.contact_email,
    }
    if bounded:
        panel["pages"] = []
        room = min(frames.budget() // 6, frames.item_budget() - frames.encoded_size(panel))
        panel["pages"] = frames.take(reversed(pages), room)[::-1]
        if not complete:
            panel["pages_total"] = visits.count()
    return panel


# --- who may read which chat (need to know) ------------------------------------------------------

#: `history_scope` values: every chat in the history, or only those the agent took part in.
ALL = "all"
OWN = "own"


_UNREAD = object()


def history_scope(user: AnyUser, profile: Any = _UNREAD) -> str | None:
    """How much of the history `user` may read: ALL, OWN or None (nothing).

    Reading needs the console, the right to read history and the current guidance
    acknowledgement (as the queue does); every chat, rather than those the agent took part in,
    needs READ_ALL_HISTORY (team leads, the service director). `profile` (the user's
    AgentProfile or None) saves a query when the caller has read it.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if not (user.has_perm("agents.use_console") and user.has_perm(READ_HISTORY)):
        return None
    if profile is _UNREAD:
        profile = AgentProfile.objects.filter(user=user).first()
    if not guidance_current(profile):
        return None
    return ALL if user.has_perm(READ_ALL_HISTORY) else OWN


def took_part(user_id: int) -> Q:
    """The conversation is the agent's: assigned to it, taken over by it (claimed or received by
    a transfer, also if handed on since), or written in by it. Each arm is one index probe."""
    taken = Participation.objects.filter(conversation=OuterRef("pk"), agent_id=user_id)
    wrote = Message.objects.filter(conversation=OuterRef("pk"), agent_id=user_id)
    return Q(assigned_agent_id=user_id) | Exists(taken) | Exists(wrote)


def readable_conversations(user: StaffUser, scope: str | None) -> QuerySet[Conversation]:
    """The conversations `user` may read with `scope` (from `history_scope`), within retention.

    The one rule behind the history list, transcripts and their visitor data.
    """
    conversations = Conversation.objects.filter(created_at__gte=retention_cutoff())
    if scope == ALL:
        return conversations
    if scope == OWN:
        return conversations.filter(took_part(user.pk))
    return conversations.none()


def history(
    user: StaffUser,
    scope: str | None,
    *,
    text: str = "",
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    agent_id: int | None = None,
) -> QuerySet[Conversation]:
    """The conversations `user` may read, newest first, filtered as asked."""
    qs = readable_conversations(user, scope).select_related("assigned_agent")
    if text:
        qs = qs.filter(pk__in=Message.objects.filter(text__icontains=text).values("conversation"))
    if date_from:
        qs = qs.filter(created_at__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__lt=date_to)
    if agent_id:
        qs = qs.filter(took_part(agent_id))
    return qs.order_by("-created_at")


HISTORY_PAGE_SIZE = 50


def _history_page(
    user: StaffUser, scope: str | None, number: str | None, filters: dict[str, Any]
) -> Page:
    conversations = (
        history(user, scope, **filters).select_related("wrap_up_reason").prefetch_related("tags")
    )
    page = Paginator(conversations, HISTORY_PAGE_SIZE).get_page(number)
    page.object_list = list(page.object_list)
    return page


def history_page(
    user: StaffUser, scope: str | None, *, number: str | None = None, **filters: Any
) -> Page:
    """One page of `history`, read from the database replica when there is a usable one.

    The search runs on the replica (it reads every message); the page's rows are then checked
    on the primary with the need-to-know rule, so a chat erased, purged or no longer readable
    there is never listed, however far behind the replica is.
    """
    page = replica.replica_read(_history_page, user, scope, number, filters, what="history")
    if replica.configured() and page.object_list:
        ids = [c.pk for c in page.object_list]
        allowed = set(
            readable_conversations(user, scope).filter(pk__in=ids).values_list("pk", flat=True)
        )
        page.object_list = [c for c in page.object_list if c.pk in allowed]
    return page


def transcript(user: StaffUser, scope: str | None, reference: str) -> Conversation | None:
    """One conversation `user` may read, else None (whether it exists or not)."""
    return (
        readable_conversations(user, scope)
        .filter(reference=reference)
        .select_related("assigned_agent")
        .first()
    )


def agent_capacities(*, agent_ids: list[int]) -> dict[int, int]:
    """How many chats at once each of these agents may be given (their profile's capacity)."""
    return dict(
        AgentProfile.objects.filter(user_id__in=agent_ids).values_list("user_id", "capacity")
    )
