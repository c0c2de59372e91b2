"""Writes about agents: profiles, presence, guidance acknowledgment, console language."""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import foreign_keys, writer
from chat.models import AuditEvent
from chat.services import ChatError, audit_record, display_name
from chat.waiting import queue_changed
from realtime import events

from . import dispatch, selectors
from .models import GUIDANCE_VERSION, AgentProfile
from .types import StaffUser


def profile_get(*, user: StaffUser) -> AgentProfile:
    profile, _ = AgentProfile.objects.get_or_create(user=user)
    return profile


def _announce_presence(user: StaffUser, presence: str) -> None:
    events.emit(
        events.AGENTS_GROUP,
        {
            "type": "presence",
            "agent": {"id": user.pk, "name": display_name(user), "presence": presence},
        },
    )


def _announce_availability(was_online: bool) -> None:
    from chat import hooks

    is_online = hooks.agents_online()
    if is_online != was_online:
        events.emit(events.VISITORS_GROUP, {"type": "availability", "agents_online": is_online})


def _refreshable(presence: object) -> bool:
    """A heartbeat's presence that may only move the times (valid, and not going offline)."""
    return presence in AgentProfile.Presence.values and presence != AgentProfile.Presence.OFFLINE


def presence_heartbeat(*, user: StaffUser, presence: str) -> None:
    """A console's periodic presence: usually one UPDATE, else `presence_set`.

    Every open console repeats its presence every few seconds. When the stored presence is the
    same and still fresh, nobody sees a change, so only the times move (one statement, no lock,
    no availability query); anything else takes the full way.
    """
    now = timezone.now()
    if _refreshable(presence):
        refreshed = AgentProfile.objects.filter(
            user=user, presence=presence, presence_seen_at__gte=selectors.fresh_since(now)
        ).update(presence_seen_at=now, last_console_activity_at=now)
        if refreshed:
            return
    presence_set(user=user, presence=presence)


@functools.cache
def _refresh_sql() -> str:
    """`presence_heartbeat`'s UPDATE as one statement; names from the model."""
    meta = AgentProfile._meta

    def column(name: str) -> str:
        return foreign_keys.column(meta.get_field(name))

    seen, activity = column("presence_seen_at"), column("last_console_activity_at")
    return (
        f"UPDATE {meta.db_table} SET {seen} = %(now)s, {activity} = %(now)s "  # noqa: S608
        f"WHERE {column('user')} = %(user)s AND {column('presence')} = %(presence)s "
        f"AND {seen} >= %(fresh)s"
    )


async def presence_refresh(*, user_id: int, presence: object) -> bool | None:
    """`presence_heartbeat`'s usual case from the event loop, through the message writer's
    connections (no database thread): True if the fresh, unchanged presence was refreshed,
    False if the full way (`presence_set`) must decide, None where there is no writer (then
    `presence_heartbeat` does it all in a thread).
    """
    current = writer.writer()
    if current is None:
        return None
    if not _refreshable(presence):
        return False
    now = timezone.now()
    params = {
        "now": now,
        "user": user_id,
        "presence": presence,
        "fresh": selectors.fresh_since(now),
    }
    return await current.execute(_refresh_sql(), params) > 0


@transaction.atomic
def presence_set(*, user: StaffUser, presence: str) -> AgentProfile:
    """Sets and refreshes (heartbeat) an agent's presence.

    Colleagues are told when the presence an agent shows changes, including a stale "online"
    coming back to life; visitors' widgets are told when the chat's availability changes.
    """
    if presence not in AgentProfile.Presence.values:
        raise ChatError("bad_frame", "presence must be online, away or offline")
    from chat import hooks

    profile = AgentProfile.objects.select_for_update().filter(user=user).first()
    if profile is None:
        profile = profile_get(user=user)
    was_online = hooks.agents_online()
    shown_before = selectors.effective_presence(profile)
    now = timezone.now()
    profile.presence = presence
    # Only the agent sets a presence here (a choice, or its heartbeat repeating it): the next
    # login starts with it. An expiry (`presence_expire`) is not a choice and keeps it.
    profile.chosen_presence = presence
    profile.presence_seen_at = now
    profile.last_console_activity_at = now
    profile.save(
        update_fields=[
            "presence",
            "chosen_presence",
            "presence_seen_at",
            "last_console_activity_at",
        ]
    )
    if shown_before != presence:
        _announce_presence(user, presence)
        _announce_availability(was_online)
        _route_after_commit(user.pk, presence)
        if AgentProfile.Presence.ONLINE in (shown_before, presence):
            # One agent more or fewer: every waiting visitor's estimate changes.
            queue_changed()
    return profile


def _route_after_commit(user_id: int, presence: str) -> None:
    transaction.on_commit(
        lambda: dispatch.presence_changed(user_id=user_id, presence=presence), robust=True
    )


@transaction.atomic
def presence_expire(*, user: StaffUser) -> bool:
    """Sets an agent offline when no console has refreshed the presence within the grace period.

    Called a grace period after a console tab closed: if another tab is still open its
    heartbeat has kept the presence fresh and nothing changes. Returns whether it went offline.
    """
    from chat import hooks

    profile = AgentProfile.objects.select_for_update().filter(user=user).first()
    if profile is None or profile.presence == AgentProfile.Presence.OFFLINE:
        return False
    grace = selectors.offline_grace()
    if profile.presence_seen_at > timezone.now() - grace:
        return False
    was_online = hooks.agents_online() or profile.presence == AgentProfile.Presence.ONLINE
    profile.presence = AgentProfile.Presence.OFFLINE
    profile.save(update_fields=["presence"])
    _announce_presence(user, AgentProfile.Presence.OFFLINE)
    _announce_availability(was_online)
    _route_after_commit(user.pk, AgentProfile.Presence.OFFLINE)
    queue_changed()
    return True


@transaction.atomic
def guidance_acknowledge(*, user: StaffUser, actor_ip: str | None) -> AgentProfile:
    """Records that the agent has read the current guidance (once per guidance version)."""
    profile = profile_get(user=user)
    if profile.guidance_version >= GUIDANCE_VERSION and profile.guidance_acknowledged_at:
        return profile
    profile.guidance_acknowledged_at = timezone.now()
    profile.guidance_version = GUIDANCE_VERSION
    profile.save(update_fields=["guidance_acknowledged_at", "guidance_version"])
    audit_record(
        action=AuditEvent.Action.GUIDANCE_ACKNOWLEDGED,
        actor=user,
        object_ref=f"guidance v{GUIDANCE_VERSION}",
        actor_ip=actor_ip,
    )
    return profile


def language_set(*, user: StaffUser, language: str) -> AgentProfile:
    """Stores the console language the agent chose (one of settings.LANGUAGES)."""
    if language not in dict(settings.LANGUAGES):
        raise ChatError("bad_language", "unsupported language")
    profile = profile_get(user=user)
    profile.language = language
    profile.save(update_fields=["language"])
    return profile


def availability_sweep() -> bool:
    """Tells visitors when availability changed without anyone saying so.

    An agent whose console stopped sending heartbeats (a crashed server, a closed laptop) turns
    offline by staleness, not by a presence change; this periodic check announces that.
    """
    from django.core.cache import cache

    from chat import hooks

    is_online = hooks.agents_online()
    previous = cache.get("agents:availability")
    cache.set("agents:availability", is_online, timeout=None)
    if previous is not None and previous != is_online:
        events.send_now(events.VISITORS_GROUP, {"type": "availability", "agents_online": is_online})
    return is_online
