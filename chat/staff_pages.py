"""The staff pages and who may open each: one table that both the pages' guards and the staff
navigation read, so the navigation never offers a page that refuses, nor hides one that opens.

Each app registers its own pages (`staff_page_register`, from its AppConfig.ready) with the
function its views use to let a request in; `chat` imports none of those apps. The header of
every staff page (templates/staff/_header.html) lists `staff_pages_for(request)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from django.http import HttpRequest
from django.urls import reverse


@dataclass(frozen=True)
class StaffPage:
    #: A short stable key ("history"); the header marks the page whose key or views match.
    key: str
    #: The page's URL name ("agents:history").
    url_name: str
    #: What the navigation calls it (a lazy translation).
    label: Any
    #: The one test of access: the view's guard calls this very function.
    may_open: Callable[[HttpRequest], bool]
    #: Position in the navigation, lowest first.
    order: int
    #: View names (fnmatch patterns) that belong to this page, e.g. a transcript to the history.
    views: tuple[str, ...] = field(default=())

    def url(self) -> str:
        return reverse(self.url_name)

    def contains(self, view_name: str) -> bool:
        return view_name == self.url_name or any(fnmatchcase(view_name, p) for p in self.views)


_pages: dict[str, StaffPage] = {}


def staff_page_register(page: StaffPage) -> None:
    """Adds `page` to the navigation (registering the same key again replaces it)."""
    _pages[page.key] = page


def staff_page(key: str) -> StaffPage:
    return _pages[key]


def staff_page_allows(key: str, request: HttpRequest) -> bool:
    """Whether the registered page `key` lets this request in; what the page's guard asks."""
    return staff_page(key).may_open(request)


def staff_pages_for(request: HttpRequest) -> list[StaffPage]:
    """The pages this signed-in request may open, in navigation order; none when anonymous."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return [p for p in sorted(_pages.values(), key=lambda p: p.order) if p.may_open(request)]


def staff_page_current(request: HttpRequest) -> str | None:
    """The key of the registered page the request is on, if any."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    return next((p.key for p in _pages.values() if p.contains(match.view_name)), None)
