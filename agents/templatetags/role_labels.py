"""Role names in the reader's language (agents.roles.ROLE_LABELS)."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from agents.roles import role_label

register = template.Library()


@register.filter
def role_labels(names: Iterable[str]) -> str:
    return ", ".join(role_label(name) for name in names)
