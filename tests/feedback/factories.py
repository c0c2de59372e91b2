"""Conversations with known times, built straight in the database for feedback tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from chat.models import Conversation, Message, hash_token, new_visitor_token
from feedback.models import Feedback


def conversation(
    *,
    created_at: datetime,
    agent=None,
    wait: float | None = None,
    first_response: float | None = None,
    length: float | None = None,
    feedback: tuple[bool | None, bool | None] | None = None,
    comment: str = "",
) -> tuple[Conversation, str]:
    """A chat that began at `created_at`; durations in seconds from its start.

    No `length` means it is still open; no `wait` means no agent took it.
    """
    token = new_visitor_token()
    claimed = created_at + timedelta(seconds=wait) if wait is not None else None
    first = created_at + timedelta(seconds=first_response) if first_response is not None else None
    closed = created_at + timedelta(seconds=length) if length is not None else None
    conv = Conversation.objects.create(
        token_hash=hash_token(token),
        status=(
            Conversation.Status.CLOSED
            if closed
            else Conversation.Status.ACTIVE
            if claimed
            else Conversation.Status.WAITING
        ),
        assigned_agent=agent if claimed else None,
        created_at=created_at,
        last_activity_at=closed or first or claimed or created_at,
        claimed_at=claimed,
        first_response_at=first,
        closed_at=closed,
        closed_by="visitor" if closed else "",
    )
    Message.objects.create(conversation=conv, sender="visitor", text="hello", created_at=created_at)
    if first:
        Message.objects.create(
            conversation=conv, sender="agent", agent=agent, text="hi", created_at=first
        )
    if feedback is not None:
        Feedback.objects.create(
            conversation=conv,
            service_satisfied=feedback[0],
            channel_satisfied=feedback[1],
            comment=comment,
            created_at=(closed or created_at) + timedelta(seconds=30),
        )
    return conv, token
