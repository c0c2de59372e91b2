"""The visitor panel's words in fi/sv/en, translated with Django's gettext (chat/locale/).

They are handed to the panel's script as one JSON catalogue, so the script never builds
user-visible text of its own. Placeholders are `{name}` style and filled in with textContent.
"""

from __future__ import annotations

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
