"""Demo staff accounts for local use and benchmarks; `manage.py seed_demo` creates them through
the chat's `demo_accounts` hook (the chat itself knows no console roles)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from .models import CannedReply
from .roles import roles_sync

DEMO_PASSWORD = "demo-password-change-me"  # noqa: S105 - printed only in DEBUG for local use

ACCOUNTS = [
    ("agent", "Aino", "Asiakaspalvelija", "Agent", False),
    ("agent2", "Bertil", "Berg", "Agent", False),
    ("director", "Daniela", "Direktör", "Service director", True),
]


#: (shortcut, language, title, text): typed after "/" in the console, in the chat's language.
CANNED_REPLIES = [
    ("hello", "fi", "Tervehdys", "Hei! Kuinka voin auttaa?"),
    ("hello", "sv", "Hälsning", "Hej! Hur kan jag hjälpa dig?"),
    ("hello", "en", "Greeting", "Hello! How can I help you?"),
    ("wait", "fi", "Hetki", "Hetki, tarkistan asian."),
    ("wait", "sv", "Ett ögonblick", "Ett ögonblick, jag kontrollerar saken."),
    ("wait", "en", "One moment", "One moment, I will check that for you."),
    ("thanks", "fi", "Kiitos", "Kiitos yhteydenotosta ja hyvää päivänjatkoa!"),
    ("thanks", "sv", "Tack", "Tack för att du kontaktade oss och ha en bra dag!"),
    ("thanks", "en", "Thanks", "Thank you for contacting us, and have a good day!"),
]


def demo_canned_replies() -> None:
    """A few canned replies in each language, so that "/" in the demo console shows something
    (only where nobody has made any yet)."""
    if CannedReply.objects.exists():
        return
    CannedReply.objects.bulk_create(
        CannedReply(shortcut=shortcut, language=language, title=title, text=text)
        for shortcut, language, title, text in CANNED_REPLIES
    )


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
    demo_canned_replies()
    if settings.DEBUG:
        names = ", ".join(a[0] for a in ACCOUNTS)
        write(f"demo accounts: {names} / password: {DEMO_PASSWORD}")
    else:
        write("demo accounts exist (passwords are not printed outside DEBUG)")
