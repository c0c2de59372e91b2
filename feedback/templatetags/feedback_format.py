from django import template

from feedback.charts import format_duration, format_share

register = template.Library()


@register.filter
def duration(seconds):
    return format_duration(seconds)


@register.filter
def share(value):
    return format_share(value)


@register.filter
def yes_no(value):
    from django.utils.translation import gettext as _

    return {True: _("Yes"), False: _("No")}.get(value, "–")


@register.filter
def period_name(start, period: str) -> str:
    """A report period in the reader's language: a day's date, "week 49, 2026", "December 2026"."""
    from django.utils.formats import date_format
    from django.utils.translation import gettext as _

    if period == "week":
        year, week, _day = start.isocalendar()
        return _("week %(week)d, %(year)d") % {"week": week, "year": year}
    if period == "month":
        return date_format(start, "F Y")
    return date_format(start, "SHORT_DATE_FORMAT")
