"""The account types the staff functions take.

Staff accounts are Django's own `auth.User` (no custom user model). A function that may get the
request's user before anything checked it takes `AnyUser` (an anonymous visitor of a staff page).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

StaffUser = User
AnyUser = User | AnonymousUser


class StaffRequest(HttpRequest):
    """A request whose user a view's decorator has checked is signed in."""

    user: User
