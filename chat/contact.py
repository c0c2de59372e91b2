"""The e-mail that tells a visitor an answer to the message they left is waiting.

Only with CHAT_OFFLINE_CONTACT. It says that an answer is waiting and links to the chat page on
the chat server; it never carries the conversation (e-mail is neither private nor erasable).
A beat task sends what is due, so the message path never waits for a mail server, and a mail
server that is down only delays the notice to the next run.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext

from .models import Conversation
from .serializers import visitor_language

logger = logging.getLogger(__name__)


def contact_due() -> QuerySet[Conversation]:
    """Messages left offline with an address, answered by an agent, not yet announced."""
    return Conversation.objects.filter(
        left_offline=True, first_response_at__isnull=False, contact_notified_at__isnull=True
    ).exclude(contact_email="")


def contact_message(conversation: Conversation) -> tuple[str, str]:
    """Subject and body in the chat's language: that an answer waits, the reference, the link."""
    with translation.override(visitor_language(conversation.language)):
        subject = gettext("An answer to your message is waiting")
        body = "\n\n".join(
            [
                gettext(
                    "Customer service has answered the message you left in the chat "
                    "(reference %(reference)s)."
                )
                % {"reference": conversation.reference},
                gettext("Open the chat to read the answer: %(url)s") % {"url": chat_page_url()},
                gettext(
                    "For your privacy this e-mail does not contain the conversation. You "
                    "were sent it because you gave this address for the answer."
                ),
            ]
        )
    return subject, body


def chat_page_url() -> str:
    return f"{settings.CHAT_PUBLIC_URL}/chat/"


def contact_notify_due() -> int:
    """Sends each due notice once; returns how many were sent. A failed send stays due."""
    if not settings.CHAT_OFFLINE_CONTACT:
        return 0
    sent = 0
    for conversation in contact_due().order_by("id")[:100]:
        subject, body = contact_message(conversation)
        try:
            send_mail(subject, body, None, [conversation.contact_email])
        except OSError:
            logger.warning("contact e-mail for a left message not sent; retried next run")
            continue
        Conversation.objects.filter(pk=conversation.pk, contact_notified_at__isnull=True).update(
            contact_notified_at=timezone.now()
        )
        sent += 1
    return sent
