"""Reads about agents: who may use the console, who is online."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import AgentProfile

# An agent counts as online only while a console keeps its presence fresh (heartbeat).
PRESENCE_STALE_AFTER = timedelta(seconds=90)


def console_users() -> QuerySet:
    """Active accounts holding the console permission, directly, by group or as superuser."""
    User = get_user_model()
    perm = Q(
        user_permissions__codename="use_console", user_permissions__content_type__app_label="agents"
    )
    group_perm = Q(
        groups__permissions__codename="use_console",
        groups__permissions__content_type__app_label="agents",
    )
    return (
        User.objects.filter(is_active=True)
        .filter(perm | group_perm | Q(is_superuser=True))
        .distinct()
    )


def online_profiles() -> QuerySet[AgentProfile]:
    fresh = timezone.now() - PRESENCE_STALE_AFTER
    return AgentProfile.objects.filter(
        presence=AgentProfile.Presence.ONLINE,
        presence_seen_at__gte=fresh,
        user__in=console_users(),
    )


def any_agent_online() -> bool:
    return online_profiles().exists()
