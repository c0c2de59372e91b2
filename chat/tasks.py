"""Celery tasks of the chat. Thin: each calls one function that does the work."""

from __future__ import annotations

from celery import shared_task

from . import contact


@shared_task(name="chat.tasks.contact_notify_due", ignore_result=True)
def contact_notify_due() -> int:
    """Tells visitors who left a message with an e-mail address that an answer is waiting."""
    return contact.contact_notify_due()
