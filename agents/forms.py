from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .types import StaffUser


class ConsoleLoginForm(AuthenticationForm):
    """Signs in console users only; anyone else gets the same answer as a wrong password."""

    def confirm_login_allowed(self, user: StaffUser) -> None:
        super().confirm_login_allowed(user)
        if not user.has_perm("agents.use_console"):
            raise self.get_invalid_login_error()


class HistorySearchForm(forms.Form):
    q = forms.CharField(label=_("Text"), required=False, max_length=200)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    agent = forms.TypedChoiceField(label=_("Agent"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, agents: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Any agent")), *agents]

    def filters(self) -> dict:
        data = self.cleaned_data
        tz = timezone.get_current_timezone()
        start = data.get("date_from")
        end = data.get("date_to")
        return {
            "text": (data.get("q") or "").strip(),
            "date_from": datetime.combine(start, time.min, tzinfo=tz) if start else None,
            # The "to" day is included whole.
            "date_to": datetime.combine(end, time.min, tzinfo=tz) + timedelta(days=1)
            if end
            else None,
            "agent_id": data.get("agent"),
        }
