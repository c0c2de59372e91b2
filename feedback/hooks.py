"""How feedback plugs into the chat's retention purge (see chat/hooks.py)."""

from __future__ import annotations

from chat import hooks


def retention_before_delete(conversation_ids: list[int]) -> None:
    """Folds the days of conversations about to be deleted, so the reports keep them.

    The purge calls this for every batch of conversations, inside the batch's transaction, and
    the days are normally folded long before (see `retention_models`). So the not yet folded
    days of the batch are found in one query, in the database: loading every conversation's
    time into Python to find them cost the purge more than deleting the rows.
    """
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from chat.models import Conversation

    from .models import FoldedDay
    from .services import stats_fold_day

    days = (
        Conversation.objects.filter(pk__in=list(conversation_ids))
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .exclude(day__in=FoldedDay.objects.values("day"))
        .values_list("day", flat=True)
        .order_by()
        .distinct()
    )
    for day in sorted(days):
        stats_fold_day(day=day)


def retention_models() -> list[tuple[type, str]]:
    """Feedback answers are purged by their own time.

    Every finished day is folded first: the purge asks for this list before it deletes
    anything, so no answer can be deleted before it is counted, whatever order the purge
    deletes its tables in.
    """
    from .models import Feedback
    from .services import stats_fold_due

    stats_fold_due()
    return [(Feedback, "created_at")]


def conversation_feedback(conversation_id: int) -> dict | None:
    """The visitor's quick feedback on a conversation, for the agent's transcript."""
    from .selectors import feedback_for

    return feedback_for(conversation_id)


def register() -> None:
    hooks.register("conversation_feedback", conversation_feedback)
    hooks.register("retention_before_delete", retention_before_delete)
    hooks.register("retention_models", retention_models)
