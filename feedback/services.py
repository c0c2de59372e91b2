"""Writes: the visitor's quick feedback, and folding finished days into anonymous aggregates."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.db.models.functions import TruncDate
from django.utils import timezone

from chat import identifiers
from chat.models import Conversation
from chat.services import ChatError, clean_text
from realtime import events

from .aggregates import Agg
from .models import (
    ACCESSIBILITY_MESSAGE_MAX_CHARS,
    COMMENT_MAX_CHARS,
    AccessibilityFeedback,
    DailyStat,
    Feedback,
    FoldedDay,
)
from .selectors import day_start, feedback_dict, live_day_aggregates, local_day

# The widget asks right after the chat ends; an answer days later would land in a day that is
# already folded into the aggregates, so it is refused instead.
FEEDBACK_WINDOW = timedelta(hours=getattr(settings, "FEEDBACK_WINDOW_HOURS", 24))
# A day is folded once no chat of it can change any more: the window above has passed for chats
# that began just before midnight.
FOLD_AFTER = timedelta(hours=getattr(settings, "FEEDBACK_FOLD_AFTER_HOURS", 48))

# Markup has no business in a one-line comment; refusing it beats storing a stored-XSS probe.
_MARKUP = re.compile(r"<\s*/?\s*[a-z!?]|javascript\s*:|&#|&[a-z]+;", re.IGNORECASE)


ALREADY_ANSWERED = "feedback for this chat has already been given"


def _clean_answer(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ChatError("bad_request", f"{name} must be true, false or null")


def clean_comment(value: Any) -> str:
    """Strips control characters, masks identifiers, checks the length and that it is not markup."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ChatError("bad_request", "comment must be a string")
    text = "".join(ch for ch in value if ch in "\n\t" or (ch >= " " and ch != "\x7f"))
    # The identifier guard, as for chat messages: nothing typed here is stored unmasked.
    text = identifiers.guard(text).strip()
    if len(text) > COMMENT_MAX_CHARS:
        raise ChatError("too_long", f"the comment is over {COMMENT_MAX_CHARS} characters")
    if _MARKUP.search(text):
        raise ChatError("markup", "the comment may not contain HTML or script")
    return text


_UNSET = object()


@transaction.atomic
def feedback_submit(
    *,
    conversation: Conversation,
    service_satisfied: Any = _UNSET,
    channel_satisfied: Any = _UNSET,
    comment: Any = _UNSET,
) -> Feedback:
    """Stores the visitor's answers about their ended chat as they give them, one row per chat.

    The widget sends each answer the moment it is given, so an answer to the first question
    survives a visitor who leaves at the second. The later answers and the comment update the
    same row. An answer once given stays: sending the same value again changes nothing (a
    retry is safe), a different one is refused. Anything wrong stores nothing.

    Refuses with ChatError: `not_closed` (chat still open), `already_answered` (that answer was
    given already, differently), `expired` (too long after the chat ended), `empty` (nothing
    answered), `too_long` / `markup` / `bad_request` (bad input). The conversation's room is
    told after commit with a `feedback.received` event, so the serving agent sees it at once.
    """
    given: dict[str, Any] = {}
    if service_satisfied is not _UNSET:
        given["service_satisfied"] = _clean_answer(service_satisfied, "service_satisfied")
    if channel_satisfied is not _UNSET:
        given["channel_satisfied"] = _clean_answer(channel_satisfied, "channel_satisfied")
    if comment is not _UNSET:
        given["comment"] = clean_comment(comment)
    # A skipped question (null) or an empty comment is no answer: it neither stores nor clears.
    given = {name: value for name, value in given.items() if value is not None and value != ""}
    if not given:
        raise ChatError("empty", "nothing to send: skipping needs no request")
    # Locks the conversation so two racing submissions are decided one after the other.
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.status != Conversation.Status.CLOSED or locked.closed_at is None:
        raise ChatError("not_closed", "feedback can be given once the chat has ended")
    now = timezone.now()
    if now - locked.closed_at > FEEDBACK_WINDOW or (
        FoldedDay.objects.filter(day=local_day(locked.created_at)).exists()
    ):
        raise ChatError("expired", "it is too late to give feedback on this chat")
    feedback = Feedback.objects.filter(conversation=locked).first()
    if feedback is None:
        feedback = Feedback.objects.create(conversation=locked, created_at=now, **given)
    else:
        changed = []
        for name, value in given.items():
            stored = getattr(feedback, name)
            if stored == value:
                continue
            if stored is not None and stored != "":
                raise ChatError("already_answered", ALREADY_ANSWERED)
            setattr(feedback, name, value)
            changed.append(name)
        if not changed:
            return feedback
        feedback.save(update_fields=changed)
    events.emit(
        events.conversation_group(locked.pk),
        {"type": "feedback.received", "feedback": feedback_dict(feedback)},
    )
    return feedback


# --- aggregates -------------------------------------------------------------------------------


def stats_fold_day(*, day: date) -> bool:
    """Counts every chat that began on `day` into DailyStat, once; False if already folded.

    The whole day goes in one transaction together with its FoldedDay mark, so a purge killed
    midway or two purges at once can neither count a chat twice nor leave a day half counted.
    """
    try:
        with transaction.atomic():
            FoldedDay.objects.create(day=day)
            for (_, agent), agg in live_day_aggregates(day, day).items():
                DailyStat.objects.create(
                    day=day, agent_id=agent.agent_id, agent_name=agent.name, **agg.as_fields()
                )
    except IntegrityError:
        return False
    return True


def stats_fold_due(*, now=None) -> int:
    """Folds every day that ended more than FOLD_AFTER ago and still has chats; returns how many."""
    now = now or timezone.now()
    horizon = local_day(now - FOLD_AFTER)
    days = (
        Conversation.objects.filter(created_at__lt=day_start(horizon))
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values_list("day", flat=True)
        .order_by()
        .distinct()
    )
    due = set(days) - set(FoldedDay.objects.values_list("day", flat=True))
    return sum(stats_fold_day(day=day) for day in sorted(due))


#: Days whose per-agent rows are folded in one transaction.
ANONYMISE_DAYS_PER_BATCH = 100


def _named() -> models.Q:
    return ~models.Q(agent=None) | ~models.Q(agent_name="")


def stats_anonymise_before(*, day: date, dry_run: bool = False) -> int:
    """Folds the per-agent statistics of every day before `day` into that day's totals.

    The agent's account and name go; the day's counts and histograms stay whole, in the one row
    without an agent. Each batch of days is one transaction of four statements whatever the
    number of rows (read the days, read their rows, delete them, insert the totals), so a run
    killed midway leaves only whole days behind, and running it again changes nothing. Returns
    how many named rows were folded (or would be, with `dry_run`).
    """
    named = DailyStat.objects.filter(_named(), day__lt=day)
    if dry_run:
        return named.count()
    folded = 0
    while True:
        with transaction.atomic():
            days = list(
                named.order_by("day")
                .values_list("day", flat=True)
                .distinct()[:ANONYMISE_DAYS_PER_BATCH]
            )
            if not days:
                return folded
            rows = list(DailyStat.objects.select_for_update().filter(day__in=days))
            totals: dict[date, Agg] = {}
            for row in rows:
                totals.setdefault(row.day, Agg()).merge(Agg.from_row(row))
                folded += bool(row.agent_id or row.agent_name)
            DailyStat.objects.filter(pk__in=[row.pk for row in rows]).delete()
            DailyStat.objects.bulk_create(
                [
                    DailyStat(day=d, agent=None, agent_name="", **agg.as_fields())
                    for d, agg in totals.items()
                ]
            )


# --- accessibility feedback (the statement's form; not part of the chat register) ------------


def accessibility_feedback_submit(
    *, message: Any, reply_email: Any, language: str
) -> AccessibilityFeedback:
    """Stores one piece of accessibility feedback as the sender wrote it; anything wrong stores
    nothing. Only the text, the optional reply address they typed and the page's language are
    kept: no address, browser or other data about the sender.

    Refuses with ChatError: `empty`, `too_long`, `bad_email`, `bad_request`. An identifier typed
    into the text is masked, as in the chat.
    """
    if not isinstance(reply_email, str):
        raise ChatError("bad_request", "reply_email must be a string")
    # Cleaned as a chat message is (controls dropped, identifiers masked), but shorter.
    text = clean_text(message)
    if len(text) > ACCESSIBILITY_MESSAGE_MAX_CHARS:
        raise ChatError(
            "too_long", f"the message is over {ACCESSIBILITY_MESSAGE_MAX_CHARS} characters"
        )
    email = reply_email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ChatError("bad_email", "the reply address is not an e-mail address") from exc
    return AccessibilityFeedback.objects.create(
        message=text, reply_email=email, language=language[:2]
    )


def accessibility_feedback_mark(
    *, feedback: AccessibilityFeedback, answered: bool, by
) -> AccessibilityFeedback:
    """Marks the feedback answered (now, by `by`) or back to unanswered."""
    feedback.answered_at = timezone.now() if answered else None
    feedback.answered_by = by if answered else None
    feedback.save(update_fields=["answered_at", "answered_by"])
    return feedback
