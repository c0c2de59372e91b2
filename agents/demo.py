"""Demo staff accounts for local use and benchmarks; `manage.py seed_demo` creates them through
the chat's `demo_accounts` hook (the chat itself knows no console roles)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from .roles import roles_sync

DEMO_PASSWORD = "demo-password-change-me"  # noqa: S105 - printed only in DEBUG for local use

ACCOUNTS = [
    ("agent", "Aino", "Asiakaspalvelija", "Agent", False),
    ("agent2", "Bertil", "Berg", "Agent", False),
    ("director", "Daniela", "Direktör", "Service director", True),
]


def demo_accounts(*, write: Callable[[str], None]) -> None:
    """Creates the role groups and the demo accounts (idempotently); `write` tells how to log in."""
    roles_sync()
    User = get_user_model()
    for username, first, last, group, staff in ACCOUNTS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "is_staff": staff},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=group))
    if settings.DEBUG:
        names = ", ".join(a[0] for a in ACCOUNTS)
        write(f"demo accounts: {names} / password: {DEMO_PASSWORD}")
    else:
        write("demo accounts exist (passwords are not printed outside DEBUG)")
