"""Connects the agents app to Django and to the chat's hooks."""

from __future__ import annotations

from django.db.models.signals import post_migrate
from django.dispatch import receiver

from chat import hooks

from . import selectors


@receiver(post_migrate)
def _sync_roles(sender, **kwargs) -> None:
    if sender.name != "agents":
        return
    from .roles import roles_sync

    roles_sync(using=kwargs.get("using", "default"))


hooks.register("agents_online", selectors.any_agent_online)
