"""The visitor panel's words in fi/sv/en, translated with Django's gettext (chat/locale/).

They are handed to the panel's script as one JSON catalogue, so the script never builds
user-visible text of its own. Placeholders are `{name}` style and filled in with textContent.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext, ngettext

from . import identifiers


def panel_strings() -> dict[str, object]:
    months = settings.CHAT_RETENTION_MONTHS
    return {
        "title": gettext("Customer service chat"),
        "minimise": gettext("Minimise chat"),
        "end": gettext("End chat"),
        "message": gettext("Message"),
        "send": gettext("Send"),
        "topic": gettext("What is your question about?"),
        "topic_any": gettext("Choose a topic (optional)"),
        "messages": gettext("Messages"),
        "notice": ngettext(
            "Messages and technical details of this chat are kept for %(months)d month.",
            "Messages and technical details of this chat are kept for %(months)d months.",
            months,
        )
        % {"months": months},
        "privacy": gettext("Privacy notice"),
        "accessibility": gettext("Accessibility statement"),
        "ephemeral": gettext(
            "Your browser does not let the chat remember this conversation: it lasts only while "
            "this page is open."
        ),
        "you": gettext("You"),
        "agent": gettext("Customer service"),
        "typing": gettext("{name} is typing…"),
        "joined": gettext("{name} joined the chat"),
        "waiting": gettext("Waiting for a customer service agent…"),
        "sending": gettext("Sending…"),
        "sent": gettext("Sent"),
        "retrying": gettext("Not sent yet, retrying…"),
        "failed": gettext("Not sent"),
        "offline": gettext("No one is available to chat right now."),
        "hours": gettext("Opening hours"),
        "onlineNow": gettext("Online now: {name}."),
        "leave": gettext(
            "Leave a message and we will answer here. You will see the answer when you next "
            "visit this site with this browser."
        ),
        "answerFrom": gettext(
            "We will answer at the earliest when customer service opens: {when}."
        ),
        "answerSoon": gettext(
            "We will answer as soon as someone in customer service is available."
        ),
        "connecting": gettext("Connecting…"),
        "reconnecting": gettext("Connection lost. Reconnecting…"),
        "degraded": gettext(
            "Connection to live updates is disturbed; messages are saved and will appear shortly."
        ),
        "ended": gettext("The chat has ended."),
        "new": gettext("Start a new chat"),
        "erased": gettext("This conversation has been deleted."),
        "slow": gettext("Too many messages. Please wait a moment."),
        "reference": gettext("Conversation reference"),
        "copy": gettext("Copy reference"),
        "copied": gettext("Copied"),
        "refHelp": gettext("Quote it if you ask about your data."),
        "weekdays": [str(WEEKDAYS[i]) for i in range(7)],
        **identifier_strings(),
    }


def refused_strings(site: str) -> dict[str, str]:
    """What the panel says on a site that may not embed the chat (chat.views._widget_refused):
    to the visitor, to the site's administrator, and in the browser console to its developer."""
    return {
        "title": gettext("Customer service chat"),
        "minimise": gettext("Minimise chat"),
        "refused": gettext("The chat is not available on this website."),
        "admin": gettext(
            "For the website's administrator: this website ({site}) is not listed in the chat "
            "server's CHAT_EMBED_ORIGINS setting."
        ).format(site=site),
        # For developers, in the browser console: English, like the setting's documentation.
        "console": (
            f"helao-chat: {site} may not embed the chat. Add {site} to CHAT_EMBED_ORIGINS "
            "(comma-separated origins) in the chat server's environment and restart it."
        ),
    }


def _english_ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def queue_text(position: int, estimate: dict[str, Any] | None) -> str:
    """The waiting visitor's place and estimated wait in the active language, one sentence
    each: "You are 2nd in the queue. Estimated wait: about 3 minutes." (an estimate, said so)."""
    place = gettext("You are {ordinal} in the queue.").format(
        ordinal=_english_ordinal(position), position=position
    )
    estimate = estimate or {}
    kind = estimate.get("kind")
    if kind == "minutes":
        minutes = estimate["minutes"]
        wait = ngettext(
            "Estimated wait: about %(minutes)d minute.",
            "Estimated wait: about %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
    elif kind == "range":
        wait = gettext("Estimated wait: %(low)d–%(high)d minutes.") % {
            "low": estimate["low"],
            "high": estimate["high"],
        }
    elif kind == "few":
        wait = gettext("Estimated wait: a few minutes.")
    elif kind == "long":
        wait = gettext("Estimated wait: more than an hour.")
    else:
        return place
    return f"{place} {wait}"


def identifier_strings() -> dict[str, object]:
    """The guard's words: the warning before sending (per kind and policy) and placeholders."""
    return {
        "idLooks": {
            identifiers.PERSONAL_CODE: gettext("This looks like a personal identity code."),
            identifiers.CARD: gettext("This looks like a payment card number."),
            identifiers.IBAN: gettext("This looks like a bank account number."),
        },
        "idWill": gettext("It will be hidden when you send the message.")
        if settings.CHAT_IDENTIFIER_POLICY == "mask"
        else gettext("It will be stored with the chat as you typed it; send it only if you must."),
        "idLabels": identifiers.labels(),
        "idHidden": identifiers.hidden_label(),
    }


def contact_strings() -> dict[str, str]:
    """The optional e-mail field of a message left offline (only with CHAT_OFFLINE_CONTACT)."""
    return {
        "label": gettext("E-mail for the answer (optional)"),
        "help": gettext(
            "We only tell you there that an answer is waiting, never what it says. The address "
            "is kept with the chat and deleted with it."
        ),
    }


def rights_buttons() -> dict[str, str]:
    """The names of the panel's download and delete buttons (in its HTML, not its catalogue)."""
    return {
        "download": gettext("Download the conversation"),
        "delete": gettext("Delete the conversation"),
    }


def rights_strings() -> dict[str, str]:
    """The words of the download and delete dialogs (static/widget/rights.js), fetched when the
    visitor first opens one: the panel itself stays small for the many who never do."""
    return {
        **rights_buttons(),
        "preparing": gettext("Preparing your copy…"),
        "ready": gettext("Your copy is ready. Choose a file:"),
        "fileText": gettext("Readable text (.txt)"),
        "fileJson": gettext("Everything stored about the chat, machine-readable (.json)"),
        "close": gettext("Close"),
        "deleteTitle": gettext("Delete this conversation for good?"),
        "deleteText": gettext(
            "This deletes the messages, your connection and device data (IP address, browser, "
            "screen), the pages you visited, the data passed by this website and your feedback. "
            "Customer service will see that you deleted the conversation. This cannot be undone."
        ),
        "deleteYes": gettext("Delete for good"),
        "cancel": gettext("Cancel"),
        "deleting": gettext("Deleting…"),
        "rightsFailed": gettext("That did not work. Please try again in a moment."),
        "rightsLimited": gettext("Too many requests. Please try again later."),
        "gone": gettext("This conversation no longer exists."),
    }
