"""Console pages for data-subject requests: find, export, erase. Directors only.

Searching is a POST, not a GET: criteria are visitor IP addresses and words a visitor wrote, and
a query string would put them into browser history and web-server access logs.
"""

from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from chat import hooks
from chat.models import Conversation
from realtime.net import request_client_ip

from . import data_requests as dsr

PERMISSION = "chat.handle_data_requests"
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def director_required(view):
    """Login first (anonymous users go to the login page), then the permission and the current
    guidance acknowledgement; any refusal is a 404, which tells nobody what exists here."""

    @wraps(view)
    @login_required
    @never_cache
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not may_handle_data_requests(request):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def may_handle_data_requests(request: HttpRequest) -> bool:
    """The data-subject request pages: the permission and the current guidance acknowledgement.
    The pages' guard and the staff navigation (chat.staff_pages) both ask this."""
    user = request.user
    return user.is_authenticated and user.has_perm(PERMISSION) and hooks.guidance_acknowledged(user)


class SearchForm(forms.Form):
    reference = forms.CharField(
        label=_("Conversation reference"),
        required=False,
        max_length=20,
        help_text=_("As the visitor quotes it, e.g. ABCDE-12345."),
    )
    ip = forms.CharField(label=_("IP address"), required=False, max_length=45)
    since = forms.DateTimeField(
        label=_("Active after"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        label=_("Started before"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    text = forms.CharField(
        label=_("Text the visitor wrote"),
        required=False,
        max_length=200,
        help_text=_("Matches any message of the conversation."),
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        try:
            data["criteria"] = dsr.Criteria.build(
                reference=data.get("reference", ""),
                ip=data.get("ip", ""),
                since=data.get("since"),
                until=data.get("until"),
                text=data.get("text", ""),
            )
        except dsr.DataRequestError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class RequestIdField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(
            label=_("Request identifier"),
            max_length=dsr.REQUEST_ID_MAX,
            help_text=_("The identifier of the data-subject request, e.g. DSR-2026-014."),
            **kwargs,
        )


class ExportForm(forms.Form):
    request_id = RequestIdField()
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[("json", _("JSON (machine-readable)")), ("text", _("Readable text"))],
        initial="json",
        widget=forms.RadioSelect,
    )

    def clean_request_id(self):
        try:
            return dsr.clean_request_id(self.cleaned_data["request_id"])
        except dsr.DataRequestError as exc:
            raise forms.ValidationError(str(exc)) from None


class EraseForm(forms.Form):
    request_id = RequestIdField()
    confirm = forms.BooleanField(
        label=_("I have checked that this conversation is the requester's, and erase it for good."),
        required=True,
    )

    def clean_request_id(self):
        try:
            return dsr.clean_request_id(self.cleaned_data["request_id"])
        except dsr.DataRequestError as exc:
            raise forms.ValidationError(str(exc)) from None


def _conversation(reference: str) -> Conversation:
    conversation = dsr.conversation_by_reference(reference)
    if conversation is None:
        raise Http404("no such conversation")
    return conversation


def _detail(request, conversation, *, export_form=None, erase_form=None, status=200):
    return render(
        request,
        "chat/dsr_detail.html",
        {
            "conversation": conversation,
            "counts": dsr.conversation_row_counts(conversation),
            "openings": len(dsr.transcript_openings(conversation.reference)),
            "export_form": export_form or ExportForm(prefix="export"),
            "erase_form": erase_form or EraseForm(prefix="erase"),
        },
        status=status,
    )


@director_required
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    """Find conversations by reference, IP address, time range or text; audited once per search."""
    results = None
    if request.method == "POST":
        form = SearchForm(request.POST)
        if form.is_valid():
            results = dsr.visitor_data_search(
                criteria=form.cleaned_data["criteria"],
                actor=request.user,
                actor_ip=request_client_ip(request),
            )
    else:
        form = SearchForm()
    return render(
        request,
        "chat/dsr_search.html",
        {"form": form, "results": results, "limit": dsr.SEARCH_LIMIT},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@director_required
@require_http_methods(["GET"])
def detail(request: HttpRequest, reference: str) -> HttpResponse:
    """One conversation's dates and how many rows of each kind it has; no text."""
    return _detail(request, _conversation(reference))


@director_required
@require_POST
def export(request: HttpRequest, reference: str) -> HttpResponse:
    """Downloads everything stored about the conversation; audited as one EXPORT event."""
    conversation = _conversation(reference)
    form = ExportForm(request.POST, prefix="export")
    if not form.is_valid():
        return _detail(request, conversation, export_form=form, status=400)
    result = dsr.visitor_data_export(
        conversation=conversation,
        request_id=form.cleaned_data["request_id"],
        fmt=form.cleaned_data["format"],
        actor=request.user,
        actor_ip=request_client_ip(request),
    )
    response = HttpResponse(result.content, content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response


@director_required
@require_POST
def erase(request: HttpRequest, reference: str) -> HttpResponse:
    """Erases the conversation everywhere after confirmation; audited as one ERASURE event."""
    conversation = _conversation(reference)
    form = EraseForm(request.POST, prefix="erase")
    if not form.is_valid():
        return _detail(request, conversation, erase_form=form, status=400)
    deleted = dsr.visitor_data_erase(
        conversation=conversation,
        request_id=form.cleaned_data["request_id"],
        actor=request.user,
        actor_ip=request_client_ip(request),
    )
    messages.success(
        request,
        _("Conversation %(reference)s erased: %(rows)d rows deleted.")
        % {"reference": conversation.reference, "rows": sum(deleted.values())},
    )
    return redirect("dsr:search")
