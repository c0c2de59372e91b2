"""The e-mail that tells a visitor an answer to the message they left is waiting.

Only with CHAT_OFFLINE_CONTACT. It says that an answer is waiting and carries a one-time link
to the chat page on the chat server; it never carries the conversation (e-mail is neither private
nor erasable). A beat task sends what is due, so the message path never waits for a mail server,
and a mail server that is down only delays the notice to the next run.

The link is needed because the visitor's token lives in the storage of the chat's frame on the
site where they wrote, which browsers that partition storage do not share with the chat server's
own page. The link's random token is stored only as its hash with the conversation, opens the chat
until `CHAT_ANSWER_LINK_DAYS` at most and never past the conversation's purge, and works once:
opening it hands that browser a visitor token of its own for this one chat (also stored only as a
hash) and clears the link's hash. The token travels in the URL's fragment, which browsers send
to no server (no access log, no Referer), and a click on the page spends it, so that a mail
scanner that fetches links does not.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from .models import Conversation, hash_token, new_visitor_token
from .retention_period import months_before
from .serializers import visitor_language

logger = logging.getLogger(__name__)


def contact_due() -> QuerySet[Conversation]:
    """Messages left offline with an address, answered by an agent, not yet announced."""
    return Conversation.objects.filter(
        left_offline=True, first_response_at__isnull=False, contact_notified_at__isnull=True
    ).exclude(contact_email="")


def contact_message(conversation: Conversation, link: str) -> tuple[str, str]:
    """Subject and body in the chat's language: that an answer waits, the reference, the link."""
    with translation.override(visitor_language(conversation.language)):
        until = formats.date_format(link_expiry_local(conversation), "SHORT_DATE_FORMAT")
        subject = gettext("An answer to your message is waiting")
        body = "\n\n".join(
            [
                gettext(
                    "Customer service has answered the message you left in the chat "
                    "(reference %(reference)s)."
                )
                % {"reference": conversation.reference},
                gettext("Open the chat to read the answer: %(url)s") % {"url": link},
                gettext(
                    "The link works once, until %(date)s. The answer also shows in the chat the "
                    "next time you visit the website with the browser you wrote from."
                )
                % {"date": until},
                gettext(
                    "For your privacy this e-mail does not contain the conversation. You "
                    "were sent it because you gave this address for the answer."
                ),
            ]
        )
    return subject, body


def answer_link_url(token: str, language: str) -> str:
    """The page that opens the chat with `token`; the token in the fragment (sent to no server)."""
    return f"{settings.CHAT_PUBLIC_URL}/chat/answer/?lang={language}#{token}"


def purge_due_at(conversation: Conversation) -> datetime:
    """When the purge deletes the conversation if nothing happens in it any more."""
    return months_before(conversation.last_activity_at, -settings.CHAT_RETENTION_MONTHS)


def link_expiry_local(conversation: Conversation) -> datetime:
    assert conversation.answer_link_expires_at is not None
    return timezone.localtime(conversation.answer_link_expires_at)


def answer_link_issue(conversation: Conversation) -> str:
    """A new one-time link token for the conversation (replacing an unsent one); only its hash
    and its expiry are stored: `CHAT_ANSWER_LINK_DAYS` from now, never past the purge."""
    token = new_visitor_token()
    expires = min(
        timezone.now() + timedelta(days=settings.CHAT_ANSWER_LINK_DAYS),
        purge_due_at(conversation),
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        answer_link_hash=hash_token(token), answer_link_expires_at=expires
    )
    conversation.answer_link_hash = hash_token(token)
    conversation.answer_link_expires_at = expires
    return token


def answer_link_redeem(token: object) -> str | None:
    """Spends a link token: a new visitor token for its conversation, or None when the token is
    malformed, unknown, used or expired (one answer for all: nothing says which)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    digest = hash_token(token)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .filter(answer_link_hash=digest, answer_link_expires_at__gt=timezone.now())
            .first()
        )
        # The index found the row by hash; compared again in constant time all the same.
        if conversation is None or not hmac.compare_digest(conversation.answer_link_hash, digest):
            return None
        session = new_visitor_token()
        Conversation.objects.filter(pk=conversation.pk).update(
            answer_link_hash="", answer_session_hash=hash_token(session)
        )
    return session


def contact_notify_due() -> int:
    """Sends each due notice once; returns how many were sent. A failed send stays due."""
    if not settings.CHAT_OFFLINE_CONTACT:
        return 0
    sent = 0
    for conversation in contact_due().order_by("id")[:100]:
        link = answer_link_url(
            answer_link_issue(conversation), visitor_language(conversation.language)[:2]
        )
        subject, body = contact_message(conversation, link)
        try:
            send_mail(subject, body, None, [conversation.contact_email])
        except OSError:
            logger.warning("contact e-mail for a left message not sent; retried next run")
            # A link nobody was sent is no link: the next run makes a new one.
            Conversation.objects.filter(pk=conversation.pk).update(
                answer_link_hash="", answer_link_expires_at=None
            )
            continue
        Conversation.objects.filter(pk=conversation.pk, contact_notified_at__isnull=True).update(
            contact_notified_at=timezone.now()
        )
        sent += 1
    return sent
