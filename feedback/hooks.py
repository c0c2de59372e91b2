"""How feedback plugs into the chat's retention purge (see chat/hooks.py)."""

from __future__ import annotations

from chat import hooks


def retention_before_delete(conversation_ids: list[int]) -> None:
    """Folds the days of conversations about to be deleted, so the reports keep them."""
    from .services import stats_fold_conversations

    stats_fold_conversations(conversation_ids=list(conversation_ids))


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
