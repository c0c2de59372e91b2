"""The visitor's feedback endpoint and the director's reports (page and CSV)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import hooks
from chat.csvfile import csv_response
from chat.privacy import notice_language
from chat.replica import replica_read
from chat.selectors import conversation_by_token
from chat.services import ChatError
from realtime import limits
from realtime.net import request_client_ip, same_origin_request

from . import accessibility as accessibility_texts
from . import charts, selectors, services
from .models import ACCESSIBILITY_MESSAGE_MAX_CHARS

MAX_BODY_BYTES = 4096
MAX_REPORT_DAYS = 3 * 366
ANSWER_FIELDS = ("service_satisfied", "channel_satisfied", "comment")
ERROR_STATUS = {"already_answered": 409, "not_closed": 409, "expired": 409}


def _error(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


# CSRF protection is replaced, not dropped: the visitor's bearer token authenticates the
# request (no cookie is involved) and the Origin must be this server's own (the widget's frame).
@csrf_exempt
@require_POST
@never_cache
def submit(request: HttpRequest) -> JsonResponse:
    """Stores the visitor's answer about their ended chat; JSON `{ok}` or `{error, message}`."""
    if not same_origin_request(request):
        return _error("bad_origin", "feedback is accepted from the chat window only", 403)
    if len(request.body) > MAX_BODY_BYTES:
        return _error("too_large", "the request is too large", 413)
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error("bad_json", "the request is not valid JSON")
    if not isinstance(data, dict):
        return _error("bad_json", "the request must be a JSON object")
    conversation = conversation_by_token(data.get("token"))
    if conversation is None:
        return _error("bad_token", "no chat matches this token", 403)
    try:
        # Only the answers the request carries: the widget sends each one as it is given.
        services.feedback_submit(
            conversation=conversation,
            **{name: data[name] for name in ANSWER_FIELDS if name in data},
        )
    except ChatError as exc:
        return _error(exc.code, exc.message, ERROR_STATUS.get(exc.code, 400))
    return JsonResponse({"ok": True})


# --- reports ----------------------------------------------------------------------------------


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def report_params(request: HttpRequest) -> tuple[date, date, str]:
    """Period and date range from the query string, with defaults that fit the period."""
    period = request.GET.get("period", "day")
    if period not in selectors.PERIODS:
        period = "day"
    today = timezone.localdate()
    end = _parse_date(request.GET.get("to")) or today
    default_start = {
        "day": end - timedelta(days=29),
        "week": end - timedelta(weeks=11, days=end.weekday()),
        "month": (end.replace(day=1) - timedelta(days=300)).replace(day=1),
    }[period]
    start = _parse_date(request.GET.get("from")) or default_start
    if start > end:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_REPORT_DAYS))
    return start, end, period


def _charts(report: dict) -> list[dict]:
    # The bars' titles name the period in the reader's language, as the table does.
    period = report["period"]
    rows = [
        {**row, "label": charts.format_period(row["start"], period)} for row in report["periods"]
    ]
    return [
        charts.bar_chart(
            title=_("Chats"),
            rows=rows,
            series=[("chats", _("chats")), ("feedback_answers", _("feedback answers"))],
        ),
        charts.bar_chart(
            title=_("Share of Yes"),
            rows=rows,
            series=[
                ("service_yes_share", _("satisfied with the service")),
                ("channel_yes_share", _("chat was a good way")),
            ],
            fmt=charts.format_share,
            max_value=1,
        ),
        charts.bar_chart(
            title=_("Waiting time before an agent took the chat"),
            rows=rows,
            series=[("wait_median", _("median")), ("wait_p90", _("90th percentile"))],
            fmt=charts.format_duration,
        ),
    ]


def may_read_reports(request: HttpRequest) -> bool:
    """The report page and its CSV; the staff navigation (chat.staff_pages) asks the same."""
    return request.user.is_authenticated and request.user.has_perm("feedback.view_reports")


def reports_required(view):
    """Login first, then `may_read_reports`; refused with a bare 403."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not may_read_reports(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@reports_required
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    """The director's report page: tables, server-drawn SVG charts and recent comments.

    The counts are no one's data; the comments are visitors' words, so like history they are
    shown only to staff who have acknowledged the current guidance.
    """
    start, end, period = report_params(request)
    report = replica_read(selectors.report, start=start, end=end, period=period, what="reports")
    reads_comments = hooks.guidance_acknowledged(request.user)
    language = translation.get_language()
    by = {
        name: selectors.dimension_report(start=start, end=end, dimension=name, language=language)
        for name in selectors.DIMENSIONS
    }
    return render(
        request,
        "feedback/reports.html",
        {
            "report": report,
            "charts": _charts(report),
            "comments": selectors.recent_comments() if reads_comments else None,
            "comments_hidden": not reads_comments,
            "periods": selectors.PERIODS,
            "by": by,
            "concurrency": selectors.concurrency_by_hour(start=start, end=end),
            "retention_months": settings.CHAT_RETENTION_MONTHS,
        },
    )


CSV_COLUMNS = [
    "period",
    "agent",
    "chats",
    "taken",
    "closed",
    "wait_median",
    "wait_p90",
    "first_response_median",
    "first_response_p90",
    "duration_median",
    "duration_p90",
    "feedback_answers",
    "service_answers",
    "service_yes_share",
    "channel_answers",
    "channel_yes_share",
    "response_rate",
]


def report_csv_rows(report: dict) -> list[list[object]]:
    """The report as rows: each period for all agents, then for each agent; durations in s.
    Cells are made safe for spreadsheets by the writer (chat.csvfile)."""
    rows: list[list[object]] = [
        [
            *CSV_COLUMNS[:2],
            *(f"{c}_s" if "_median" in c or "_p90" in c else c for c in CSV_COLUMNS[2:]),
        ]
    ]
    by_period: dict[str, list[dict]] = {}
    for row in report["period_agents"]:
        by_period.setdefault(row["label"], []).append(row)
    for row in report["periods"]:
        rows.append([row["label"], "ALL", *(row[c] for c in CSV_COLUMNS[2:])])
        for agent_row in by_period.get(row["label"], []):
            rows.append(
                [
                    row["label"],
                    agent_row["agent"],
                    *(agent_row[c] for c in CSV_COLUMNS[2:]),
                ]
            )
    total = report["total"]
    rows.append(["TOTAL", "ALL", *(total[c] for c in CSV_COLUMNS[2:])])
    return rows


@reports_required
@require_GET
def reports_csv(request: HttpRequest) -> HttpResponse:
    """The same numbers as the page, as CSV (no comments: they are visitor text)."""
    start, end, period = report_params(request)
    report = replica_read(selectors.report, start=start, end=end, period=period, what="reports")
    return csv_response(f"helao-chat-report-{period}-{start}-{end}.csv", report_csv_rows(report))


BREAKDOWN_COLUMNS = [
    "chats",
    "taken",
    "wait_median",
    "wait_p90",
    "first_response_median",
    "first_response_p90",
    "duration_median",
    "duration_p90",
    "feedback_answers",
    "service_yes_share",
    "channel_yes_share",
]


def breakdown_csv_rows(*, start: date, end: date, language: str) -> list[list[object]]:
    """The page's tables by tag and by wrap-up reason, then the chats each agent held at the
    same time by hour, as rows (durations in s); one header row per table."""
    header = [f"{c}_s" if "_median" in c or "_p90" in c else c for c in BREAKDOWN_COLUMNS]
    rows: list[list[object]] = [["breakdown", "name", *header]]
    for name in selectors.DIMENSIONS:
        for row in selectors.dimension_report(
            start=start, end=end, dimension=name, language=language
        ):
            rows.append([name, row["name"], *(row[c] for c in BREAKDOWN_COLUMNS)])
    rows.append([])
    rows.append(["agent", "hour", "average_at_once", "most_at_once"])
    for agent in selectors.concurrency_by_hour(start=start, end=end)["agents"]:
        for cell in agent["cells"]:
            rows.append([agent["agent"], cell["hour"], cell["average"], cell["peak"]])
    return rows


@login_required
@permission_required("feedback.view_reports", raise_exception=True)
@require_GET
def breakdowns_csv(request: HttpRequest) -> HttpResponse:
    """The breakdowns of the page (by tag, by wrap-up reason, at the same time by hour) as CSV."""
    start, end, _period = report_params(request)
    rows = breakdown_csv_rows(start=start, end=end, language=translation.get_language())
    return csv_response(f"helao-chat-breakdowns-{start}-{end}.csv", rows)


# --- the accessibility statement and its feedback form (public) --------------------------------


# No CSRF cookie: the statement is a public page and sets none (every cookie is stored data).
# A form POST from a browser carries Origin, which must be this server's own; the form
# authenticates nobody, so a forged one could only send feedback the sender could send anyway.
@csrf_exempt
@never_cache
def accessibility(request: HttpRequest) -> HttpResponse:
    """/accessibility/: the statement in the asked or preferred language, and its feedback form
    (POST: stored as the sender wrote it, then back to the page with a thank-you)."""
    lang = notice_language(request)
    error = error_field = ""
    form = {"message": "", "reply_email": ""}
    status = 200
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in form}
        code = None
        if not same_origin_request(request):
            code, status = "bad_request", 403
        elif not limits.ip_public_form_allowed(request_client_ip(request)):
            code, status = "rate_limited", 429
        else:
            try:
                services.accessibility_feedback_submit(
                    message=form["message"], reply_email=form["reply_email"], language=lang
                )
            except ChatError as exc:
                code, status = exc.code, 400
        if code is None:
            return redirect(f"{request.path}?lang={lang}&sent=1")
        error = accessibility_texts.error_text(lang, code)
        error_field = {"empty": "message", "too_long": "message", "bad_email": "reply_email"}.get(
            code, ""
        )
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    statement = accessibility_texts.accessibility_statement(lang)
    context = {
        "statement": statement,
        "LANGUAGE_CODE": lang,
        "form": form,
        "error": error,
        "error_field": error_field,
        "sent": request.method == "GET" and request.GET.get("sent") == "1",
        "max_chars": ACCESSIBILITY_MESSAGE_MAX_CHARS,
    }
    response = render(request, "feedback/accessibility.html", context, status=status)
    response["Content-Language"] = lang
    return response
