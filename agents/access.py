"""Access rights to the chat register: grants, revocations and the review of who can read chats.

Every change of a chat role, wherever it is made (this page, Django admin, a shell), is recorded
as an AccessGrant and an audit event by the m2m receiver below.
"""

from __future__ import annotations

import contextvars
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.utils import timezone

from chat.bidi import strip_bidi_controls
from chat.models import AuditEvent
from chat.services import audit_record
from realtime import events

from .models import AccessGrant, AgentProfile
from .roles import CHAT_ROLES, READ_ALL_HISTORY
from .types import StaffUser

# Who is changing access right now, and on whose approval; set by the views that do it.
_change_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "access_change_context", default=None
)


def _record(user: StaffUser, group: Group, change: str) -> None:
    context = _change_context.get() or {}
    actor = context.get("actor")
    AccessGrant.objects.create(
        user=user,
        group=group,
        change=change,
        approved_by=strip_bidi_controls(context.get("approved_by", ""))[:200],
        effected_by=actor if getattr(actor, "pk", None) else None,
    )
    detail = {"role": group.name}
    if context.get("source"):
        detail["source"] = context["source"]
    audit_record(
        action=AuditEvent.Action.ROLE_GRANTED
        if change == AccessGrant.Change.GRANTED
        else AuditEvent.Action.ROLE_REVOKED,
        actor=actor,
        actor_name=context.get("actor_name", ""),
        object_ref=f"user:{user.get_username()}",
        actor_ip=context.get("ip"),
        detail=detail,
    )


@receiver(m2m_changed, sender=get_user_model().groups.through)
def _groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if reverse or action not in ("post_add", "post_remove") or not pk_set:
        return
    change = AccessGrant.Change.GRANTED if action == "post_add" else AccessGrant.Change.REVOKED
    for group in Group.objects.filter(pk__in=pk_set, name__in=CHAT_ROLES):
        _record(instance, group, change)


def sessions_end(*, user: StaffUser) -> int:
    """Logs the user out everywhere: deletes their sessions and closes their console sockets."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    events.emit(events.agent_group(user.pk), {"type": "session.ended", "reason": "access_revoked"})
    return ended


@transaction.atomic
def role_grant(
    *,
    user: StaffUser,
    role: str,
    actor: StaffUser | None,
    approved_by: str,
    actor_ip: str | None = None,
) -> None:
    """Gives `user` a chat role, recording who approved it and who put it into effect."""
    group = Group.objects.get(name=role)
    token = _change_context.set({"actor": actor, "approved_by": approved_by, "ip": actor_ip})
    try:
        user.groups.add(group)
    finally:
        _change_context.reset(token)


# Who granted or revoked a role the identity provider's claim decided (access review, audit).
SSO_SOURCE = "single sign-on"


@transaction.atomic
def roles_apply_from_sso(
    *, user: StaffUser, provider_values: list[str], actor_ip: str | None
) -> None:
    """Makes the account's chat roles named in OIDC_ROLE_MAP exactly those its provider values
    map to (granting and revoking, each recorded and audited with the source "sso"). Roles the
    map never names stay as the director set them; admin rights are never touched."""
    role_map: dict[str, str] = settings.OIDC_ROLE_MAP
    managed = set(role_map.values())
    wanted = {role_map[value] for value in provider_values if value in role_map}
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    grant, revoke = wanted - current, current - wanted
    if not grant and not revoke:
        return
    token = _change_context.set(
        {"actor_name": SSO_SOURCE, "approved_by": SSO_SOURCE, "ip": actor_ip, "source": "sso"}
    )
    try:
        if grant:
            user.groups.add(*Group.objects.filter(name__in=grant))
        if revoke:
            user.groups.remove(*Group.objects.filter(name__in=revoke))
    finally:
        _change_context.reset(token)


def role_map_check(role_map: dict[str, str]) -> None:
    """OIDC_ROLE_MAP may map only to chat roles; anything else stops the start."""
    unknown = sorted(set(role_map.values()) - set(CHAT_ROLES))
    if unknown:
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP maps to {', '.join(map(repr, unknown))}, which is not a chat role "
            f"({', '.join(CHAT_ROLES)})."
        )


@transaction.atomic
def access_revoke(
    *, user: StaffUser, actor: StaffUser | None, approved_by: str = "", actor_ip: str | None = None
) -> int:
    """Takes every chat role from `user` and ends their sessions; returns the roles removed."""
    groups = list(user.groups.filter(name__in=CHAT_ROLES))
    token = _change_context.set({"actor": actor, "approved_by": approved_by, "ip": actor_ip})
    try:
        user.groups.remove(*groups)
    finally:
        _change_context.reset(token)
    sessions_end(user=user)
    return len(groups)


def access_review_rows() -> list[dict[str, Any]]:
    """Every account able to read chats, with how and when it got access and its activity."""
    from .selectors import console_users, permission_holders

    reads_all = set(permission_holders(READ_ALL_HISTORY).values_list("pk", flat=True))
    dormant_after = timedelta(days=settings.CHAT_DORMANT_ACCOUNT_DAYS)
    now = timezone.now()
    users = (
        console_users()
        .prefetch_related("groups")
        .select_related("agent_profile")
        .order_by("username")
    )
    rows = []
    for user in users:
        grant = (
            AccessGrant.objects.filter(user=user, change=AccessGrant.Change.GRANTED)
            .select_related("effected_by")
            .order_by("-created_at")
            .first()
        )
        profile = getattr(user, "agent_profile", None) if hasattr(user, "agent_profile") else None
        if profile is None:
            profile = AgentProfile.objects.filter(user=user).first()
        last_seen = max(
            [t for t in (user.last_login, profile and profile.last_console_activity_at) if t],
            default=None,
        )
        effector = grant.effected_by if grant else None
        rows.append(
            {
                "user": user,
                "roles": [g.name for g in user.groups.all() if g.name in CHAT_ROLES]
                + (["superuser"] if user.is_superuser else []),
                # Every chat in the history, or only those the account took part in.
                "reads_all_history": user.pk in reads_all,
                "granted_at": grant.created_at if grant else None,
                "approved_by": grant.approved_by if grant else "",
                "effected_by": effector.get_username() if effector else "",
                "guidance_at": profile.guidance_acknowledged_at if profile else None,
                "last_login": user.last_login,
                "last_activity": profile.last_console_activity_at if profile else None,
                "dormant": (last_seen is None and user.date_joined < now - dormant_after)
                or (last_seen is not None and last_seen < now - dormant_after),
            }
        )
    return rows
