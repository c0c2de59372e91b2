from django import template

from feedback.charts import format_duration, format_period, format_share

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
    return format_period(start, period)
