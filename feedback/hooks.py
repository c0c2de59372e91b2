"""How feedback plugs into the chat's retention purge (see chat/hooks.py)."""

from __future__ import annotations

from datetime import date

from chat import hooks


def retention_before_delete(conversation_ids: list[int]) -> None:
    """Folds the days of conversations about to be deleted, so the reports keep them.

    The purge calls this for every batch of conversations, inside the batch's transaction, and
    the days are normally folded long before (see `retention_models`). So the not yet folded
    days of the batch are found in one query, in the database: loading every conversation's
    time into Python to find them cost the purge more than deleting the rows.
    """
    from .services import stats_fold_day

    for day in sorted(_unfolded_days(list(conversation_ids))):
        stats_fold_day(day=day)


def _unfolded_days(conversation_ids: list[int]) -> set[date]:
    from django.db import connection
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from chat.models import Conversation

    from .models import FoldedDay

    if connection.vendor == "postgresql":
        # The same query with the ids as one array parameter: built by the ORM with an IN list of
        # every id, it cost the purge about twice as much per batch (5 ms against 2-3 ms).
        conversations = connection.ops.quote_name(Conversation._meta.db_table)
        folded = connection.ops.quote_name(FoldedDay._meta.db_table)
        zone = timezone.get_default_timezone_name()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT (c.created_at AT TIME ZONE %s)::date FROM {conversations} c "  # noqa: S608
                f"WHERE c.id = ANY(%s::bigint[]) AND NOT EXISTS (SELECT 1 FROM {folded} f "
                "WHERE f.day = (c.created_at AT TIME ZONE %s)::date)",
                [zone, conversation_ids, zone],
            )
            return {row[0] for row in cursor.fetchall()}
    return set(
        Conversation.objects.filter(pk__in=conversation_ids)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .exclude(day__in=FoldedDay.objects.values("day"))
        .values_list("day", flat=True)
        .order_by()
        .distinct()
    )


def retention_models() -> list[tuple[type, str]]:
    """Feedback answers (and accessibility feedback) are purged by their own time.

    Every finished day is folded first: the purge asks for this list before it deletes
    anything, so no answer can be deleted before it is counted, whatever order the purge
    deletes its tables in.
    """
    from .models import AccessibilityFeedback, Feedback
    from .services import stats_fold_due

    stats_fold_due()
    # Accessibility feedback is no part of the register, but is kept no longer: the same period
    # from its receipt, long past the 14 days it must be answered in (docs/privacy.md).
    return [(Feedback, "created_at"), (AccessibilityFeedback, "received_at")]


def conversation_feedback(conversation_id: int) -> dict | None:
    """The visitor's quick feedback on a conversation, for the agent's transcript."""
    from .selectors import feedback_for

    return feedback_for(conversation_id)


def retention_staff_records(cutoff, dry_run: bool = False) -> dict[str, int]:
    """Per-agent daily statistics older than the audit log's period lose the agent's name."""
    from django.utils import timezone

    from .models import DailyStat
    from .services import stats_anonymise_before

    folded = stats_anonymise_before(day=timezone.localdate(cutoff), dry_run=dry_run)
    return {f"{DailyStat._meta.label_lower}.agent": folded} if folded else {}


def register() -> None:
    hooks.register("conversation_feedback", conversation_feedback)
    hooks.register("retention_before_delete", retention_before_delete)
    hooks.register("retention_models", retention_models)
    hooks.register("retention_staff_records", retention_staff_records)
