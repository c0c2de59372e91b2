"""Connects the agents app to Django and to the chat's hooks.

Logins, logouts and failed logins are audited. A console socket must not outlive the access
behind it, so a logout, a deactivation or a change of groups or permissions tells the open
consoles at once (they also recheck every few seconds, in case an event is lost).
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_migrate, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from chat import hooks
from chat.models import AuditEvent
from chat.services import audit_record
from realtime import events
from realtime.net import request_client_ip

from . import dispatch, selectors
from .demo import demo_accounts
from .middleware import LOGIN_AT_KEY
from .models import AgentProfile
from .types import StaffUser


@receiver(post_migrate)
def _sync_roles(sender: Any, **kwargs: Any) -> None:
    if sender.name != "agents":
        return
    from .roles import roles_sync

    roles_sync(using=kwargs.get("using", "default"))


def _ip(request: HttpRequest | None) -> str | None:
    return request_client_ip(request) if request is not None else None


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest | None, user: StaffUser, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[LOGIN_AT_KEY] = int(time.time())
    audit_record(action=AuditEvent.Action.LOGIN, actor=user, actor_ip=_ip(request))


@receiver(user_logged_out)
def _logged_out(
    sender: Any, request: HttpRequest | None, user: StaffUser | None, **kwargs: Any
) -> None:
    if user is None:
        return
    audit_record(action=AuditEvent.Action.LOGOUT, actor=user, actor_ip=_ip(request))
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    # Only the consoles of the session that logged out close; another browser stays signed in.
    events.emit(events.agent_group(user.pk), {"type": "session.ended", "session_key": session_key})


@receiver(user_login_failed)
def _login_failed(
    sender: Any,
    credentials: dict[str, Any] | None,
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    # The attempted name is recorded only when it is an existing account's (never a password
    # typed into the wrong field).
    username = (credentials or {}).get("username") or ""
    User = get_user_model()
    target = User.objects.filter(**{User.USERNAME_FIELD: username}).first() if username else None
    audit_record(
        action=AuditEvent.Action.LOGIN_FAILED,
        object_ref=target.get_username() if target else "",
        actor_ip=_ip(request),
    )


def _access_changed(user_id: int) -> None:
    events.emit(events.agent_group(user_id), {"type": "access.changed"})
    _online_forget()


def _online_forget() -> None:
    """Who is online may have changed: this process's reused answer is forgotten now and again
    once the change commits (an answer read meanwhile saw the old rows)."""
    hooks.agents_online_forget()
    transaction.on_commit(hooks.agents_online_forget)


@receiver(post_save, sender=AgentProfile)
def _profile_saved(sender: Any, instance: AgentProfile, **kwargs: Any) -> None:
    _online_forget()


@receiver(post_save, sender=get_user_model())
def _user_saved(sender: Any, instance: StaffUser, created: bool, **kwargs: Any) -> None:
    if not created:
        _access_changed(instance.pk)


@receiver(m2m_changed, sender=get_user_model().groups.through)
@receiver(m2m_changed, sender=get_user_model().user_permissions.through)
def _user_access_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        _access_changed(instance.pk)
    else:
        for pk in pk_set or ():
            _access_changed(pk)
        if action == "post_clear":
            events.emit(events.AGENTS_GROUP, {"type": "access.changed"})


@receiver(m2m_changed, sender=Group.permissions.through)
def _group_permissions_changed(sender: Any, action: str, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        events.emit(events.AGENTS_GROUP, {"type": "access.changed"})
        _online_forget()


hooks.register("agents_online", selectors.any_agent_online)
hooks.register("conversation_waiting", dispatch.conversation_waiting, when=dispatch.routing_on)
hooks.register("capacity_freed", dispatch.capacity_freed)
hooks.register("agent_capacities", selectors.agent_capacities)
hooks.register("agents_online_count", selectors.agents_online_count)
hooks.register("agents_online_names", selectors.agents_online_names)
hooks.register("demo_accounts", demo_accounts)
hooks.register("guidance_acknowledged", selectors.guidance_acknowledged)
