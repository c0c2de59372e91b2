"""The visitor's feedback endpoint and the director's reports (page and CSV)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import hooks
from chat.csvfile import csv_response
from chat.selectors import conversation_by_token
from chat.services import ChatError

from . import charts, selectors, services

MAX_BODY_BYTES = 4096
MAX_REPORT_DAYS = 3 * 366
ANSWER_FIELDS = ("service_satisfied", "channel_satisfied", "comment")
ERROR_STATUS = {"already_answered": 409, "not_closed": 409, "expired": 409}


def _error(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def _same_origin(request: HttpRequest) -> bool:
    return request.headers.get("Origin") == f"{request.scheme}://{request.get_host()}"


# CSRF protection is replaced, not dropped: the visitor's bearer token authenticates the
# request (no cookie is involved) and the Origin must be this server's own (the widget's frame).
@csrf_exempt
@require_POST
@never_cache
def submit(request: HttpRequest) -> JsonResponse:
    """Stores the visitor's answer about their ended chat; JSON `{ok}` or `{error, message}`."""
    if not _same_origin(request):
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
    rows = report["periods"]
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


@login_required
@permission_required("feedback.view_reports", raise_exception=True)
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    """The director's report page: tables, server-drawn SVG charts and recent comments.

    The counts are no one's data; the comments are visitors' words, so like history they are
    shown only to staff who have acknowledged the current guidance.
    """
    start, end, period = report_params(request)
    report = selectors.report(start=start, end=end, period=period)
    reads_comments = hooks.guidance_acknowledged(request.user)
    return render(
        request,
        "feedback/reports.html",
        {
            "report": report,
            "charts": _charts(report),
            "comments": selectors.recent_comments() if reads_comments else None,
            "comments_hidden": not reads_comments,
            "periods": selectors.PERIODS,
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


@login_required
@permission_required("feedback.view_reports", raise_exception=True)
@require_GET
def reports_csv(request: HttpRequest) -> HttpResponse:
    """The same numbers as the page, as CSV (no comments: they are visitor text)."""
    start, end, period = report_params(request)
    report = selectors.report(start=start, end=end, period=period)
    return csv_response(f"helao-chat-report-{period}-{start}-{end}.csv", report_csv_rows(report))
