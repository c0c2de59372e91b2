"""Writes about agents: profiles and presence."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from chat import events
from chat.services import ChatError, display_name

from .models import AgentProfile


def profile_get(*, user) -> AgentProfile:
    profile, _ = AgentProfile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def presence_set(*, user, presence: str) -> AgentProfile:
    """Sets and refreshes an agent's presence; colleagues and widgets are told on a change."""
    if presence not in AgentProfile.Presence.values:
        raise ChatError("bad_frame", "presence must be online, away or offline")
    from chat import hooks

    profile = profile_get(user=user)
    was_online = hooks.agents_online()
    changed = profile.presence != presence
    now = timezone.now()
    profile.presence = presence
    profile.presence_seen_at = now
    profile.last_console_activity_at = now
    profile.save(update_fields=["presence", "presence_seen_at", "last_console_activity_at"])
    if changed:
        events.emit(
            events.AGENTS_GROUP,
            {
                "type": "presence",
                "agent": {"id": user.pk, "name": display_name(user), "presence": presence},
            },
        )
        is_online = hooks.agents_online()
        if is_online != was_online:
            events.emit(events.VISITORS_GROUP, {"type": "availability", "agents_online": is_online})
    return profile
