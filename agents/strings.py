"""The words console.js shows, translated on the server with Django's gettext."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from chat import identifiers


def console_strings() -> dict[str, object]:
    return {
        "queue_empty": _("Nobody is waiting."),
        "chats_empty": _("No open chats. Take one from the queue."),
        "take": _("Take"),
        "waiting_for": _("waiting %s"),
        # The visitor's estimated wait (chat/wait_estimate.py), as the visitor is told it.
        "est_minutes": _("estimate about %s min"),
        "est_range": _("estimate %s–%s min"),
        "est_few": _("estimate a few minutes"),
        "est_long": _("estimate over an hour"),
        "new_chat": _("New chat waiting"),
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Connection lost; reconnecting in %s s…"),
        "degraded": _(
            "Connection to live updates is disturbed; messages are saved and will appear shortly."
        ),
        "session_ended": _("Your session has ended. Sign in again."),
        # Before the sign-in's absolute lifetime ends it (static/console/idle.js).
        "signin_ends": _(
            "Your sign-in ends at {time}. Sign in again to keep working; this console stays as "
            "it is."
        ),
        "guidance_required": _("Read and acknowledge the guidance first."),
        "visitor": _("Visitor"),
        "system": _("System"),
        "you": _("You"),
        "typing": _("The visitor is typing…"),
        "joined": _("{name} joined the chat"),
        "ev_transferred": _("{from} transferred the chat to {name}"),
        "ev_ended_visitor": _("The visitor ended the chat"),
        "ev_ended_agent": _("{name} ended the chat"),
        "ev_ended_system": pgettext("chat ended by", "The chat was ended automatically"),
        "bidi_control": _("A hidden character that changes the direction of text"),
        "closed": _("This chat has ended."),
        "erased_visitor": _("The visitor erased this conversation; nothing of it is kept."),
        "erased_request": _("This conversation was erased on request; nothing of it is kept."),
        "select_chat": _("Select a chat from the list, or take one from the queue."),
        "transfer_none": _("No colleague is online."),
        "transfer_topics": _("Topics"),
        "topic": _("Topic"),
        "offered_to_you": _("Offered to you"),
        # The offer's countdown (static/console/routing.js).
        "offer_left": _("Passes on in %s s"),
        "offer_say_left": _("%s seconds left to accept the offer"),
        "offered_elsewhere": _("Offered to a colleague"),
        "accept": _("Accept"),
        "pass": _("Pass"),
        "error_at_capacity": _("You already have as many chats as you can take."),
        "confirm_close": _("End this chat?"),
        "unread": _("%s unread"),
        "no_page": _("unknown page"),
        "online": _("Online"),
        "away": _("Away"),
        "offline": _("Offline"),
        "muted": _("Sound off"),
        "unmuted": _("Sound on"),
        "notifications_on": _("Notifications on"),
        "canned_none": _("No canned reply matches."),
        "transferred_away": _("Chat transferred to %s."),
        "error_already_taken": _("Another agent took this chat first."),
        "error_agent_offline": _("That colleague is no longer online."),
        "error_closed": _("The chat has ended."),
        "error_not_found": _("This chat is not available."),
        "error_generic": _("Something went wrong: %s"),
        "ip": _("IP address"),
        "browser": _("Browser"),
        "os": _("Operating system"),
        "device": _("Device"),
        "language": _("Language"),
        "screen": _("Screen"),
        "contact_email": _("E-mail for the answer"),
        "current_page": _("Current page"),
        "pages": _("Pages visited"),
        "pages_earlier": _("%s earlier pages not shown"),
        "referrer": _("Came from"),
        "context": _("From the web service"),
        "started": _("Chat started"),
        "waited": _("Waited"),
        "dismiss": _("Remove from list"),
        "title": _("Console"),
        "sending": _("sending…"),
        "retrying": _("not sent yet, retrying…"),
        "not_sent": _("not sent"),
        # Internal notes and the wrap-up (static/console/notes.js, wrapup.js).
        "note_label": _("Internal note"),
        "end_chat": _("End chat"),
        "wrap_up_title": _("Wrap up"),
        "wrap_up_end_title": _("End the chat and wrap it up"),
        "wrap_up_save": _("Save the wrap-up"),
        "wrap_up_reason": _("Reason"),
        "wrap_up_tags": _("Tags"),
        "wrap_up_reason_required": _("Choose a reason."),
        "wrap_up_saved": _("Wrap-up saved."),
        "wrap_up_offline": _("Not connected; try again in a moment."),
        "error_bad_wrap_up": _("That reason or tag is no longer in use. Choose again."),
        # Placeholders of numbers the chat hid (chat/identifiers.py), in the agent's language.
        "id_labels": identifiers.labels(),
        "id_hidden": identifiers.hidden_label(),
    }


def floor_strings() -> dict[str, str]:
    """The words floor.js and monitor.js show."""
    return {
        "online": _("Online"),
        "away": _("Away"),
        "offline": _("Offline"),
        "waiting": _("Waiting"),
        "active": _("Active"),
        "closed": _("This chat has ended."),
        "watch": _("Follow"),
        "watch_label": _("Follow chat %s (read-only)"),
        "offered_to": _("offered to %s"),
        "no_agents": _("No agent is online."),
        "no_chats": _("No chats going on."),
        "updated": _("Updated %s"),
        "stale": _("Could not update; retrying."),
        "visitor": _("Visitor"),
        "system": _("System"),
        "ev_joined": _("{name} joined the chat"),
        "ev_transferred": _("{from} transferred the chat to {name}"),
        "ev_ended_visitor": _("The visitor ended the chat"),
        "ev_ended_agent": _("{name} ended the chat"),
        "ev_ended_system": pgettext("chat ended by", "The chat was ended automatically"),
    }
