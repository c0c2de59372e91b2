"""Web addresses that become links: http(s) only, in forms, in the model and in the database.

A `javascript:` address saved outside the admin form (a shell, a data migration, the ORM) must
never become a link, so the rule is a model validator, a database constraint and a check where
the link is rendered, all from here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

HTTP_SCHEMES = ("http", "https")
HTTP_URL_MESSAGE = _("Enter a web address that starts with http:// or https://.")

# Its own code: a form would replace an "invalid" error with its generic "Enter a valid URL."
validate_http_url = URLValidator(
    schemes=list(HTTP_SCHEMES), message=HTTP_URL_MESSAGE, code="not_http"
)


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) address with a host: the only kind rendered as a link."""
    try:
        parts = urlsplit(value or "")
    except ValueError:
        return False
    return parts.scheme.lower() in HTTP_SCHEMES and bool(parts.netloc) and value == value.strip()


def http_url_constraint(field: str, *, name: str) -> models.CheckConstraint:
    """`field` is empty or starts with http:// or https:// (any case), enforced by the database."""
    condition = models.Q(**{field: ""})
    for scheme in HTTP_SCHEMES:
        condition |= models.Q(**{f"{field}__istartswith": f"{scheme}://"})
    return models.CheckConstraint(
        condition=condition, name=name, violation_error_message=HTTP_URL_MESSAGE
    )
