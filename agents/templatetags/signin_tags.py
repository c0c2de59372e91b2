"""How an account signs in, for the access review."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from agents import signin
from agents.types import StaffUser

register = template.Library()


@register.simple_tag
def sign_in_methods(user: StaffUser) -> str:
    """The account's ways in, e.g. "Password, second factor" or "Single sign-on"."""
    names = {
        signin.PASSWORD: _("Password"),
        signin.SSO: _("Single sign-on"),
        "2fa": _("second factor"),
    }
    return ", ".join(names[m] for m in signin.sign_in_methods(user)) or _("cannot sign in")
