"""Data-subject requests: find a visitor's conversations, export them, erase them.

A visitor has no account, so they are found by what they can tell us: the conversation reference
shown in the widget, their IP address, roughly when they chatted, or words they wrote. Every
search, export and erasure is audited with exactly one event that carries what kind of thing was
done and the request's identifier, never message text or a visitor's address.

The export walks every relation that hangs off a conversation, so a table added later (by this
app or by another one through a foreign key) is exported and erased without changes here.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext

from chat import hooks, identifiers, system_events
from chat.bidi import isolate_plain
from chat.foreign_keys import related_model
from chat.models import REFERENCE_ALPHABET, AuditEvent, Conversation, Message
from chat.selectors import conversation_by_token, wrap_up_of
from chat.serializers import visitor_language
from chat.services import audit_record, display_name
from chat.waiting import queue_changed
from realtime import events
from retention import tombstones

#: The most conversations one search lists; a request narrower than this is the normal case.
SEARCH_LIMIT = 200
REQUEST_ID_MAX = 64

# Relations that are presented with their own labels; any other one is exported generically.
KNOWN_SECTIONS = ("messages", "connections", "page_visits", "host_contexts", "feedback")


class DataRequestError(ValueError):
    """Bad input to a data-subject tool (no criteria, malformed IP, missing request id...)."""


# --- input ------------------------------------------------------------------------------------

# People read references aloud and type them from screenshots: accept the usual confusions.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def normalise_reference(value: str) -> str:
    """`abcde fghjk`, `ABCDEFGHJK` or `ABCDE-FGHJK` all mean the reference `ABCDE-FGHJK`."""
    raw = "".join(ch for ch in (value or "").upper() if ch.isalnum()).translate(_CONFUSABLE)
    if len(raw) != 10 or any(ch not in REFERENCE_ALPHABET for ch in raw):
        raise DataRequestError("A reference has ten letters or digits, like ABCDE-12345.")
    return f"{raw[:5]}-{raw[5:]}"


def clean_request_id(value: Any) -> str:
    """The request's identifier (e.g. DSR-2026-014), required for export and erasure."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise DataRequestError("Give the identifier of the data-subject request.")
    if len(text) > REQUEST_ID_MAX or not text.isprintable():
        raise DataRequestError(
            f"The request identifier must be at most {REQUEST_ID_MAX} characters."
        )
    return text


def clean_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        raise DataRequestError("Not a valid IPv4 or IPv6 address.") from None


def parse_moment(value: str | datetime | date | None, *, end: bool = False) -> datetime | None:
    """An ISO date or date-time; a bare date means its start (or its end with `end=True`)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: datetime | date = (
                datetime.fromisoformat(text)
                if "T" in text or " " in text
                else date.fromisoformat(text)
            )
        except ValueError:
            raise DataRequestError(f"Not a date or time: {text[:40]}") from None
    else:
        parsed = value
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time.max if end else time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


@dataclass(frozen=True)
class Criteria:
    reference: str = ""
    ip: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""

    @classmethod
    def build(
        cls,
        *,
        reference: str = "",
        ip: str = "",
        since: Any = None,
        until: Any = None,
        text: str = "",
    ) -> Criteria:
        """Validates raw input; raises DataRequestError when nothing usable is given."""
        criteria = cls(
            reference=normalise_reference(reference) if (reference or "").strip() else "",
            ip=clean_ip(ip) if (ip or "").strip() else "",
            since=parse_moment(since),
            until=parse_moment(until, end=True),
            text=(text or "").strip(),
        )
        if criteria.since and criteria.until and criteria.since > criteria.until:
            raise DataRequestError("The start of the time range is after its end.")
        if len(criteria.text) == 1:
            raise DataRequestError("Search for at least two characters of text.")
        if not criteria.kinds():
            raise DataRequestError("Give a reference, an IP address, a time range or some text.")
        return criteria

    def kinds(self) -> list[str]:
        """Which kinds of criteria are used: this, not the values, goes to the audit log."""
        used = []
        if self.reference:
            used.append("reference")
        if self.ip:
            used.append("ip")
        if self.since or self.until:
            used.append("time")
        if self.text:
            used.append("text")
        return used


# --- selectors --------------------------------------------------------------------------------


def conversation_search(*, criteria: Criteria, limit: int = SEARCH_LIMIT) -> list[Conversation]:
    """Conversations matching every given criterion, newest first (without their text)."""
    qs = Conversation.objects.all()
    if criteria.reference:
        qs = qs.filter(reference=criteria.reference)
    if criteria.ip:
        qs = qs.filter(pk__in=_ids("connections", ip_address=criteria.ip))
    # A conversation overlaps the range if it started before its end and was active after its start.
    if criteria.until:
        qs = qs.filter(created_at__lte=criteria.until)
    if criteria.since:
        qs = qs.filter(last_activity_at__gte=criteria.since)
    if criteria.text:
        qs = qs.filter(pk__in=_ids("messages", text__icontains=criteria.text))
    return list(qs.order_by("-created_at")[:limit])


def _ids(relation: str, **lookups: Any) -> models.QuerySet:
    model = related_model(Conversation._meta.get_field(relation))
    return model._default_manager.filter(**lookups).values("conversation_id")


def conversation_by_reference(reference: str) -> Conversation | None:
    try:
        ref = normalise_reference(reference)
    except DataRequestError:
        return None
    return Conversation.objects.select_related("assigned_agent").filter(reference=ref).first()


def conversation_rows(conversation: Conversation) -> list[tuple[str, list[Any]]]:
    """Every row of every table that hangs off this conversation, by relation name."""
    sections: list[tuple[str, list[Any]]] = []
    for rel in Conversation._meta.related_objects:
        name = rel.get_accessor_name()
        if name is None:  # a hidden relation (related_name="+") has no accessor
            continue
        if rel.one_to_one:
            try:
                rows = [getattr(conversation, name)]
            except ObjectDoesNotExist:
                rows = []
        else:
            rows = list(getattr(conversation, name).order_by("pk"))
        sections.append((name, rows))
    return sections


def conversation_row_counts(conversation: Conversation) -> list[tuple[str, int]]:
    """How many rows of each kind hang off this conversation (for the console; no content)."""
    counts = []
    for rel in Conversation._meta.related_objects:
        model = related_model(rel)
        count = model._default_manager.filter(**{rel.field.name: conversation}).count()
        counts.append((gettext(str(model._meta.verbose_name_plural)), count))
    return counts


# The tables' names as the data-subject request page shows them (their models' plural names,
# which the models do not mark for translation themselves).
TABLE_NAMES = [
    gettext_noop("messages"),
    gettext_noop("visitor connections"),
    gettext_noop("page visits"),
    gettext_noop("host contexts"),
    gettext_noop("participations"),
    gettext_noop("feedback"),
]


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _row_dict(row: models.Model) -> dict[str, Any]:
    """A row's own values. Links to staff accounts and back to the conversation are left out:
    the visitor gets the names they saw (author_name), not the staff's account ids."""
    data = {}
    for field in row._meta.concrete_fields:
        if field.primary_key or field.is_relation:
            continue
        data[field.name] = _iso(field.value_from_object(row))
    return data


def _message_dict(message) -> dict[str, Any]:
    event = system_events.event_of(message)
    return {
        "time": _iso(message.created_at),
        "sender": message.sender,
        "author_name": message.author_name or _sender_label(message.sender),
        # A system event is stored as a fact; the export tells it in the chat's language.
        "text": system_events.describe(event) if event else identifiers.render(message.text),
        **({"event": event} if event else {}),
    }


def _shown(value: Any) -> Any:
    """`value` with every hidden identifier's marker written as its placeholder, e.g.
    "[personal identity code]": the reader sees what was hidden, never the number."""
    if isinstance(value, str):
        return identifiers.render(value)
    if isinstance(value, list):
        return [_shown(item) for item in value]
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    return value


def _sender_label(sender: str) -> str:
    labels = {"visitor": gettext("Visitor"), "agent": gettext("Customer service")}
    return labels.get(sender, gettext("System"))


def transcript_openings(reference: str) -> list[str]:
    """When staff opened this transcript, or followed the chat live from the floor view; who
    did it is the organisation's, not the visitor's."""
    times = AuditEvent.objects.filter(
        action__in=[AuditEvent.Action.TRANSCRIPT_OPENED, AuditEvent.Action.CHAT_MONITORED],
        object_ref=reference,
    ).values_list("created_at", flat=True)
    return [_iso(t) for t in sorted(times)]


def conversation_export(*, conversation: Conversation) -> dict[str, Any]:
    """Everything stored about one conversation, as plain JSON-ready data, in the chat's language
    (the names of senders and the sentences that tell system events; keys stay English).

    The token hashes (the visitor's, the answer link's and the token that link handed out) are
    left out: each is a credential derived from a random secret, and handing it out would only
    help someone who stole the visitor's device data.
    """
    with translation.override(visitor_language(conversation.language)):
        return _conversation_export(conversation)


def _conversation_export(conversation: Conversation) -> dict[str, Any]:
    data: dict[str, Any] = {
        "register": "chat",
        "language": translation.get_language(),
        "exported_at": _iso(timezone.now()),
        "retention_months": settings.CHAT_RETENTION_MONTHS,
        "conversation": {
            "reference": conversation.reference,
            "status": conversation.status,
            "language": conversation.language,
            "started_at": _iso(conversation.created_at),
            "taken_by_customer_service_at": _iso(conversation.claimed_at),
            "first_response_at": _iso(conversation.first_response_at),
            "last_activity_at": _iso(conversation.last_activity_at),
            "ended_at": _iso(conversation.closed_at),
            "ended_by": conversation.closed_by,
            "left_as_message": conversation.left_offline,
            "contact_email": conversation.contact_email,
            "answer_notice_sent_at": _iso(conversation.contact_notified_at),
            # The notice's one-time link: until when it opens the chat, and whether it has
            # (the hashes of its token and of the token it handed out are credentials: left out).
            "answer_link_valid_until": _iso(conversation.answer_link_expires_at),
            "answer_link_used": bool(conversation.answer_session_hash),
            "agent_name": (
                display_name(conversation.assigned_agent) if conversation.assigned_agent else ""
            ),
            "topic": conversation.topic.name(translation.get_language()[:2])
            if conversation.topic
            else "",
            # Routing state while the chat waits (cleared once it is taken).
            "offered_to_agent": (
                display_name(conversation.offered_to) if conversation.offered_to else ""
            ),
            "offered_at": _iso(conversation.offered_at),
            "offers_passed": len(conversation.offers_passed or []),
        },
    }
    wrap_up = wrap_up_of(conversation, translation.get_language())
    data["wrap_up"] = {
        "reason": wrap_up["reason"]["name"] if wrap_up["reason"] else None,
        "tags": [tag["name"] for tag in wrap_up["tags"]],
    }
    for name, rows in conversation_rows(conversation):
        if name == "messages":
            data["messages"] = [_message_dict(m) for m in rows if m.sender != Message.Sender.NOTE]
            # What staff wrote about the visitor is theirs to see too (right of access), kept
            # apart from what was said in the chat.
            data["internal_notes"] = [
                {
                    "time": _iso(m.created_at),
                    "author_name": m.author_name,
                    "text": identifiers.render(m.text),
                }
                for m in rows
                if m.sender == Message.Sender.NOTE
            ]
        elif name == "connections":
            data["connections"] = [
                {
                    "time": _iso(c.created_at),
                    "ip_address": c.ip_address,
                    "user_agent": c.user_agent,
                    "browser": c.browser,
                    "os": c.os,
                    "device_type": c.device_type,
                    "language": c.language,
                    "screen": c.screen,
                }
                for c in rows
            ]
        elif name == "page_visits":
            data["pages"] = [
                {
                    "time": _iso(p.created_at),
                    "url": _shown(p.url),
                    "title": _shown(p.title),
                    "referrer": _shown(p.referrer),
                }
                for p in rows
            ]
        elif name == "host_contexts":
            data["host_context"] = [
                {"time": _iso(h.created_at), "data": _shown(h.data)} for h in rows
            ]
        elif name == "feedback":
            data["feedback"] = _shown(_row_dict(rows[0])) if rows else None
        elif name == "participations":
            # When customer service took the chat over, and how; the names are in the messages.
            data["taken_over"] = [{"time": _iso(p.created_at), "how": p.via} for p in rows]
        else:
            data.setdefault("other", {})[name] = [_row_dict(r) for r in rows]
    data["transcript_opened_by_staff_at"] = transcript_openings(conversation.reference)
    shown = json.dumps(data, ensure_ascii=False, default=str)
    used = [label for label in identifiers.labels().values() if label in shown]
    if used:
        # Say what the bracketed words are: numbers hidden before they were stored.
        data["placeholders"] = {label: identifiers.hidden_label() for label in used}
    return data


def export_as_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"


def _when(value: Any) -> str:
    """An exported ISO time as people of the export's language write it (local time)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _yes_no(value: Any) -> str:
    return {True: gettext("yes"), False: gettext("no"), None: gettext("no answer")}.get(
        value, str(value)
    )


def _status_label(status: str) -> str:
    return str(dict(Conversation.Status.choices).get(status, status))


def _ended_by_label(by: str) -> str:
    return str(dict(Conversation.ClosedBy.choices).get(by, by)) if by else ""


def export_as_text(data: dict[str, Any]) -> str:
    """The export as a letter-like plain text a person can read without tools, in the chat's
    language (labels, headings, dates and system events).

    Text that people wrote (names, messages, titles, comments) is isolated with FIRST STRONG
    ISOLATE … POP DIRECTIONAL ISOLATE rather than stripped: it is the visitor's own data and is
    returned as stored, but a right-to-left override in it cannot reorder the labels around it.
    """
    with translation.override(visitor_language(data["conversation"].get("language"))):
        return _export_as_text(data)


def _export_as_text(data: dict[str, Any]) -> str:
    iso = isolate_plain
    conv = data["conversation"]
    ended_by = _ended_by_label(conv["ended_by"])
    out: list[str] = [
        gettext("Chat register: data stored about conversation %(reference)s")
        % {"reference": conv["reference"]},
        gettext("Exported %(time)s. Kept %(months)d months, then deleted.")
        % {"time": _when(data["exported_at"]), "months": data["retention_months"]},
        "",
        gettext("CONVERSATION"),
        f"  {gettext('Reference')}: {conv['reference']}",
        f"  {gettext('Started')}: {_when(conv['started_at'])}",
        f"  {gettext('Taken by customer service')}: {_when(conv['taken_by_customer_service_at'])}",
        f"  {gettext('Last activity')}: {_when(conv['last_activity_at'])}",
        f"  {gettext('Ended')}: {_when(conv['ended_at'])}"
        + (f" ({gettext('by')}: {ended_by})" if ended_by else ""),
        f"  {gettext('Status')}: {_status_label(conv['status'])}",
        f"  {gettext('Language')}: {conv['language'] or '-'}",
        f"  {gettext('Agent')}: {iso(conv['agent_name']) or '-'}",
        f"  {gettext('Topic')}: {iso(conv.get('topic') or '') or '-'}",
    ]
    if conv.get("offered_to_agent"):
        out.append(
            f"  {gettext('Offered to')}: {iso(conv['offered_to_agent'])}"
            f" ({_when(conv['offered_at'])})"
        )
    out += [
        *(
            [f"  {gettext('Left as a message while nobody was online')}"]
            if conv.get("left_as_message")
            else []
        ),
        *(
            [f"  {gettext('E-mail for the answer')}: {conv['contact_email']}"]
            if conv.get("contact_email")
            else []
        ),
        *(
            [
                f"  {gettext('Link in the answer notice valid until')}: "
                f"{_when(conv['answer_link_valid_until'])}"
                + (f" ({gettext('link used')})" if conv.get("answer_link_used") else "")
            ]
            if conv.get("answer_link_valid_until")
            else []
        ),
        "",
        gettext("MESSAGES"),
    ]
    if data.get("placeholders"):
        out += ["", "HIDDEN NUMBERS"]
        out.extend(f"  {label}: {meaning}" for label, meaning in data["placeholders"].items())
    out += ["", "MESSAGES"]
    for m in data.get("messages", []):
        if m.get("event"):
            out.append(f"  [{_when(m['time'])}] {system_events.describe(m['event'])}")
            continue
        out.append(f"  [{_when(m['time'])}] {iso(m['author_name'])}:")
        out.extend(f"    {iso(line)}" for line in m["text"].splitlines() or [""])
    wrap_up = data.get("wrap_up") or {}
    out += [
        "",
        gettext("WRAP-UP BY CUSTOMER SERVICE"),
        f"  {gettext('Reason')}: {iso(wrap_up.get('reason') or '') or '-'}",
        f"  {gettext('Tags')}: {', '.join(iso(t) for t in wrap_up.get('tags') or []) or '-'}",
    ]
    notes = len(data.get("internal_notes") or [])
    out += ["", gettext("INTERNAL NOTES BY CUSTOMER SERVICE")]
    out.append(
        "  "
        + (
            ngettext(
                "%(count)d note, never shown in the chat; its text is in the JSON export.",
                "%(count)d notes, never shown in the chat; their text is in the JSON export.",
                notes,
            )
            % {"count": notes}
            if notes
            else f"({gettext('none')})"
        )
    )
    out += ["", gettext("CONNECTION AND DEVICE DATA")]
    for c in data.get("connections", []):
        out += [
            f"  [{_when(c['time'])}] {gettext('IP address')} {c['ip_address'] or '-'}",
            f"    {gettext('Browser')} {c['browser'] or '-'}, "
            f"{gettext('system')} {c['os'] or '-'}, "
            f"{gettext('device')} {c['device_type'] or '-'}, "
            f"{gettext('screen')} {c['screen'] or '-'}, "
            f"{gettext('language')} {c['language'] or '-'}",
            f"    {gettext('User agent')}: {c['user_agent'] or '-'}",
        ]
    out += ["", gettext("PAGES VISITED DURING THE CHAT")]
    for p in data.get("pages", []):
        out.append(f"  [{_when(p['time'])}] {p['url']}")
        if p["title"]:
            out.append(f"    {gettext('Title')}: {iso(p['title'])}")
        if p["referrer"]:
            out.append(f"    {gettext('Came from')}: {p['referrer']}")
    out += ["", gettext("TAKEN OVER BY CUSTOMER SERVICE")]
    for t in data.get("taken_over", []):
        out.append(f"  [{_when(t['time'])}] {t['how']}")
    out += ["", gettext("DATA PASSED BY THE WEB SITE")]
    for h in data.get("host_context", []):
        context = json.dumps(h["data"], ensure_ascii=False, sort_keys=True)
        out.append(f"  [{_when(h['time'])}] {context}")
    out += ["", gettext("QUICK FEEDBACK")]
    feedback = data.get("feedback")
    if feedback:
        out += [
            f"  {gettext('Given')}: {_when(feedback.get('created_at'))}",
            f"  {gettext('Satisfied with the service')}: "
            f"{_yes_no(feedback.get('service_satisfied'))}",
            f"  {gettext('Satisfied with chat as a channel')}: "
            f"{_yes_no(feedback.get('channel_satisfied'))}",
        ]
        if feedback.get("comment"):
            out.append(f"  {gettext('Comment')}: {iso(feedback['comment'])}")
    else:
        out.append(f"  ({gettext('none')})")
    for name, rows in (data.get("other") or {}).items():
        out += ["", name.replace("_", " ").upper()]
        out.extend(f"  {json.dumps(r, ensure_ascii=False, sort_keys=True)}" for r in rows)
    out += ["", gettext("TRANSCRIPT OPENED BY CUSTOMER SERVICE STAFF")]
    openings = data["transcript_opened_by_staff_at"]
    out.extend(f"  {_when(t)}" for t in openings)
    if not openings:
        out.append(f"  ({gettext('never')})")
    return "\n".join(out) + "\n"


# --- services ---------------------------------------------------------------------------------


def _audit(action: str, *, actor, actor_name: str, actor_ip: str | None, **kw: Any) -> AuditEvent:
    return audit_record(action=action, actor=actor, actor_name=actor_name, actor_ip=actor_ip, **kw)


@transaction.atomic
def visitor_data_search(
    *,
    criteria: Criteria,
    actor=None,
    actor_name: str = "",
    actor_ip: str | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[Conversation]:
    """Finds conversations and audits the search with the kinds of criteria used (no values)."""
    found = conversation_search(criteria=criteria, limit=limit)
    _audit(
        AuditEvent.Action.SEARCH,
        actor=actor,
        actor_name=actor_name,
        actor_ip=actor_ip,
        detail={"purpose": "data_request", "criteria": criteria.kinds(), "results": len(found)},
    )
    return found


EXPORT_FORMATS = {
    "json": ("application/json; charset=utf-8", "json", export_as_json),
    "text": ("text/plain; charset=utf-8", "txt", export_as_text),
}


@dataclass(frozen=True)
class Export:
    filename: str
    content_type: str
    content: str


@transaction.atomic
def visitor_data_export(
    *,
    conversation: Conversation,
    request_id: str,
    fmt: str = "json",
    actor=None,
    actor_name: str = "",
    actor_ip: str | None = None,
) -> Export:
    """Builds the export of one conversation and records one EXPORT audit event."""
    request_id = clean_request_id(request_id)
    if fmt not in EXPORT_FORMATS:
        raise DataRequestError("The format is json or text.")
    content_type, extension, render = EXPORT_FORMATS[fmt]
    content = render(conversation_export(conversation=conversation))
    _audit(
        AuditEvent.Action.EXPORT,
        actor=actor,
        actor_name=actor_name,
        actor_ip=actor_ip,
        object_ref=conversation.reference,
        detail={"request_id": request_id, "format": fmt},
    )
    return Export(
        filename=f"chat-{conversation.reference}.{extension}",
        content_type=content_type,
        content=content,
    )


@transaction.atomic
def visitor_data_erase(
    *,
    conversation: Conversation,
    request_id: str,
    actor=None,
    actor_name: str = "",
    actor_ip: str | None = None,
    erased_by: str = system_events.BY_REQUEST,
    erased_at: datetime | None = None,
) -> dict[str, int]:
    """Deletes the conversation and every row hanging off it, in every app, in one transaction.

    The one erasure of the register: the director's tools, the command line, the replay after a
    restore and the visitor's own button all come here. The conversation's row is locked first,
    so a message, page visit or claim racing the erasure waits and then finds no conversation
    (nothing is half-deleted, and nothing is added after the rows were collected); the purge
    skips a locked conversation. Raises Conversation.DoesNotExist when it is already gone.

    Open sockets are told after commit (the visitor's closes itself; consoles show who erased
    it, `by`: "visitor" or "request"). The audit event keeps the reference, the request id and
    row counts, so that the erasure can be replayed after restoring a backup, but nothing of
    what was erased. Once committed, a tombstone (reference, time, request id) is written outside
    the database (retention/tombstones.py), so the erasure survives a restore of an older backup;
    `erased_at` is the original time when an erasure is replayed.
    """
    request_id = clean_request_id(request_id)
    erased_at = erased_at or timezone.now()
    conversation_id = conversation.pk
    reference = conversation.reference
    locked = Conversation.objects.select_for_update().filter(pk=conversation_id)
    statuses = list(locked.values_list("status", flat=True))
    if not statuses:
        raise Conversation.DoesNotExist("the conversation is already erased")
    if statuses[0] == Conversation.Status.WAITING:
        queue_changed()  # the chats behind it move up
    _total, per_model = Conversation.objects.filter(pk=conversation_id).delete()
    hooks.call("conversation_erased", conversation_id=conversation_id)
    deleted = {label.lower(): count for label, count in sorted(per_model.items()) if count}
    _audit(
        AuditEvent.Action.ERASURE,
        actor=actor,
        actor_name=actor_name,
        actor_ip=actor_ip,
        object_ref=reference,
        detail={"request_id": request_id, "by": erased_by, "deleted": deleted},
    )
    event = {"type": "conversation.erased", "conversation_id": conversation_id, "by": erased_by}
    events.emit(events.conversation_group(conversation_id), event)
    # A waiting chat sits in every console's queue without anyone having joined its group.
    events.emit(events.AGENTS_GROUP, event)
    tombstones.tombstone_record_on_commit(
        reference=reference, erased_at=erased_at, request_id=request_id
    )
    return deleted


# --- the visitor's own requests, from the widget (authorised by the conversation's token) -------

#: The request identifier of the audit events of the widget's download and delete buttons.
SELF_SERVICE_REQUEST_ID = "widget"
SELF_SERVICE_ACTOR = "visitor"


@dataclass(frozen=True)
class SelfExport:
    reference: str
    text: Export
    json: Export


def _row_counts(data: dict[str, Any]) -> dict[str, int]:
    counts = {}
    for key in ("messages", "internal_notes", "connections", "pages", "host_context"):
        counts[key] = len(data.get(key) or [])
    counts["feedback"] = 1 if data.get("feedback") else 0
    counts["staff_openings"] = len(data.get("transcript_opened_by_staff_at") or [])
    for name, rows in (data.get("other") or {}).items():
        counts[name] = len(rows)
    return counts


@transaction.atomic
def visitor_self_export(*, token: Any) -> SelfExport | None:
    """The visitor's own copy of their conversation: readable text and JSON, in the chat's
    language; None when the token names no conversation (nothing else is revealed).

    Audited like the director's export, with row counts and without the visitor's address.
    """
    conversation = conversation_by_token(token)
    if conversation is None:
        return None
    data = conversation_export(conversation=conversation)
    _audit(
        AuditEvent.Action.EXPORT,
        actor=None,
        actor_name=SELF_SERVICE_ACTOR,
        actor_ip=None,
        object_ref=conversation.reference,
        detail={
            "request_id": SELF_SERVICE_REQUEST_ID,
            "by": system_events.BY_VISITOR,
            "format": "text+json",
            "rows": _row_counts(data),
        },
    )
    name = f"chat-{conversation.reference}"
    return SelfExport(
        reference=conversation.reference,
        text=Export(f"{name}.txt", EXPORT_FORMATS["text"][0], export_as_text(data)),
        json=Export(f"{name}.json", EXPORT_FORMATS["json"][0], export_as_json(data)),
    )


@transaction.atomic
def visitor_self_erase(*, token: Any) -> dict[str, int] | None:
    """Erases the token's conversation through `visitor_data_erase`; None when the token names
    no conversation (unknown, already erased or purged: the same answer, nothing revealed)."""
    conversation = conversation_by_token(token)
    if conversation is None:
        return None
    try:
        return visitor_data_erase(
            conversation=conversation,
            request_id=SELF_SERVICE_REQUEST_ID,
            actor_name=SELF_SERVICE_ACTOR,
            erased_by=system_events.BY_VISITOR,
        )
    except Conversation.DoesNotExist:
        return None


def erasure_log(*, since: datetime | None = None) -> list[dict[str, str]]:
    """The erasures recorded in the audit log, oldest first: reference, time, request id.

    Keep a copy of this outside the database (see docs/privacy.md): after a restore from a
    backup, it is what says which restored conversations must be erased again.
    """
    qs = AuditEvent.objects.filter(action=AuditEvent.Action.ERASURE)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return [
        {
            "reference": e.object_ref,
            "erased_at": _iso(e.created_at),
            "request_id": str((e.detail or {}).get("request_id", "")),
        }
        for e in qs.order_by("created_at", "id")
    ]


def visitor_data_replay_erasures(
    *,
    entries: list[dict[str, Any]],
    actor=None,
    actor_name: str = "",
    actor_ip: str | None = None,
) -> list[str]:
    """Erases again, after a restore, the conversations an erasure log lists; returns those erased.

    Each entry needs a `reference`; `erased_at` (ISO time) protects a later conversation that drew
    the same reference by chance, and `request_id` is carried into the new audit event.
    """
    erased = []
    for entry in entries:
        reference = normalise_reference(str(entry.get("reference", "")))
        qs = Conversation.objects.filter(reference=reference)
        erased_at = parse_moment(str(entry["erased_at"])) if entry.get("erased_at") else None
        if erased_at is not None:
            qs = qs.filter(created_at__lte=erased_at)
        conversation = qs.first()
        if conversation is None:
            continue
        request_id = str(entry.get("request_id") or "unknown")
        visitor_data_erase(
            conversation=conversation,
            request_id=f"{request_id[: REQUEST_ID_MAX - 11]} (replayed)",
            actor=actor,
            actor_name=actor_name,
            actor_ip=actor_ip,
            erased_at=erased_at,
        )
        erased.append(reference)
    return erased
