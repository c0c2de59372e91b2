"""`{% staff_navigation as nav %}`: the staff pages the signed-in user may open (chat.staff_pages),
for the header every staff page shares (templates/staff/_header.html)."""

from __future__ import annotations

from django import template

from chat.staff_pages import staff_page_current, staff_pages_for

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_navigation(context) -> dict:
    request = context.get("request")
    if request is None:
        return {"pages": [], "keys": set()}
    pages = staff_pages_for(request)
    current = staff_page_current(request)
    return {
        "pages": [
            {"key": p.key, "label": p.label, "url": p.url(), "current": p.key == current}
            for p in pages
        ],
        "keys": {p.key for p in pages},
    }
