"""The chat register: every record the privacy notice lists, and the records about it.

Every table of personal data has an indexed time column that the retention purge ranges over.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast, Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .validators import http_url_constraint, validate_http_url

# Crockford's base32 without I, L, O, U: easy to read aloud and to type from a screenshot.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """A short public reference (50 bits) the visitor can quote; not a credential."""
    raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def new_visitor_token() -> str:
    """A 256-bit bearer secret; only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ThreeLanguageName(models.Model):
    """An item of a list the service director keeps in admin, named in Finnish, Swedish and
    English; retired items are made inactive (chats that carry them keep them)."""

    name_fi = models.CharField("name (Finnish)", max_length=80)
    name_sv = models.CharField("name (Swedish)", max_length=80)
    name_en = models.CharField("name (English)", max_length=80)
    active = models.BooleanField(default=True, help_text="Offered in the console when a chat ends.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        abstract = True
        ordering = ["position", "name_en"]

    def __str__(self) -> str:
        return self.name_en

    def name(self, language: str | None) -> str:
        """The name in `language` (fi, sv or en; anything else: English)."""
        code = (language or "")[:2].lower()
        return getattr(self, f"name_{code}", "") if code in ("fi", "sv") else self.name_en


class Tag(ThreeLanguageName):
    """A label an agent may put on a chat when it ends (e.g. "Enrolment", "Complaint")."""

    class Meta(ThreeLanguageName.Meta):
        verbose_name = _("tag")
        verbose_name_plural = _("tags")


class WrapUpReason(ThreeLanguageName):
    """How a chat ended, chosen by the agent (e.g. "Answered", "Referred elsewhere")."""

    class Meta(ThreeLanguageName.Meta):
        verbose_name = _("wrap-up reason")
        verbose_name_plural = _("wrap-up reasons")


class Topic(models.Model):
    """What a chat is about ("Courses", "Payments"): which agents serve it, its opening hours.

    The host page names it by `slug` (`data-topic`); the widget may let the visitor pick one.
    One topic is the default: chats that name none, or an unknown one, go there. A topic with
    no agents listed is served by every agent.
    """

    slug = models.SlugField(max_length=40, unique=True)
    name_fi = models.CharField(max_length=80)
    name_sv = models.CharField(max_length=80)
    name_en = models.CharField(max_length=80)
    agents = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="chat_topics"
    )
    is_default = models.BooleanField(default=False)
    # Listed in the widget's topic picker; the widget asks when two or more are listed.
    pickable = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["position", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="topic_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name_en or self.slug

    def name(self, language: str) -> str:
        """The topic's name in `language` (fi, sv or en; English otherwise)."""
        return getattr(self, f"name_{language}", "") or self.name_en or self.slug


class Conversation(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        ACTIVE = "active", _("Active")
        CLOSED = "closed", _("Closed")

    class ClosedBy(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")

    reference = models.CharField(max_length=11, unique=True, default=new_reference, editable=False)
    # SHA-256 of the visitor's bearer token; the token itself is never stored.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.WAITING, db_index=True
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    language = models.CharField(max_length=8, blank=True)
    # Null only for chats started before topics existed (they count as the default topic).
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="conversations"
    )
    # Routing (CHAT_ROUTING=offer): the agent a waiting chat is offered to and since when, and
    # the agents who let the offer pass (ids); cleared when the chat is taken.
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="offered_conversations",
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    offers_passed = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=8, choices=ClosedBy.choices, blank=True)
    # The agent's wrap-up when the chat ends (chat.services.conversation_wrap_up), from the
    # lists the director keeps. PROTECT: a reason in use is retired (inactive), not deleted.
    wrap_up_reason = models.ForeignKey(
        WrapUpReason,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="conversations",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    # Left as a message while no agent was online: it waits in the console's own list, not in
    # the queue, and is answered when customer service is back.
    left_offline = models.BooleanField(default=False, db_default=False)
    # Only with CHAT_OFFLINE_CONTACT: where to say that an answer is waiting (never what it says).
    contact_email = models.EmailField(max_length=254, blank=True, default="", db_default="")
    contact_notified_at = models.DateTimeField(null=True, blank=True)
    # The notice's one-time link (chat.contact): SHA-256 of its random token while unused (the
    # token itself is only in the e-mail), until when it opens the chat (never past the purge),
    # and once used the SHA-256 of the visitor token it handed to the browser that opened it.
    answer_link_hash = models.CharField(max_length=64, blank=True, default="", db_default="")
    answer_link_expires_at = models.DateTimeField(null=True, blank=True)
    answer_session_hash = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-created_at"]
        permissions = [
            ("handle_data_requests", "Can find, export and erase a visitor's data"),
            ("view_all_history", "Can read every chat in the history, not only their own"),
        ]
        indexes = [
            # The link and the session it hands out are looked up by hash; most rows have none.
            models.Index(
                fields=["answer_link_hash"],
                condition=~models.Q(answer_link_hash=""),
                name="conversation_answer_link",
            ),
            models.Index(
                fields=["answer_session_hash"],
                condition=~models.Q(answer_session_hash=""),
                name="conversation_answer_session",
            ),
            # The chats taken in the last hour, which the wait estimate learns from: read with
            # every queue announcement, it scanned the whole register (40 ms at 300,000 chats).
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(claimed_at__isnull=False, left_offline=False),
                name="conversation_claimed",
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Participation(models.Model):
    """An agent took part in a conversation: claimed it or received it by a transfer.

    The conversation keeps only its current agent; this row is what still lets the agent who
    handed a chat on read it in the history (need to know), and it goes with the conversation.
    """

    class Via(models.TextChoices):
        CLAIMED = "claimed", _("Claimed")
        TRANSFERRED = "transferred", _("Transferred")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participations"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    via = models.CharField(max_length=12, choices=Via.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("participation in a conversation")
        verbose_name_plural = _("participations in conversations")
        ordering = ["id"]
        constraints = [
            # Agent first: "the chats this agent took part in" is one range of this index.
            models.UniqueConstraint(
                fields=["agent", "conversation"], name="participation_agent_conversation_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} in {self.conversation_id} ({self.via})"


class Message(models.Model):
    class Sender(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")
        # Written by staff for staff: never sent to the visitor (see `VISIBLE_TO_VISITOR`).
        NOTE = "note", _("Internal note")

    #: What the visitor's side (widget, its sync and the visitor's readable text) ever shows.
    VISIBLE_TO_VISITOR = (Sender.VISITOR, Sender.AGENT, Sender.SYSTEM)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender = models.CharField(max_length=8, choices=Sender.choices)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )
    # The name the visitor saw, frozen at send time.
    author_name = models.CharField(max_length=150, blank=True)
    text = models.TextField()
    # A system message is an event (chat/system_events.py: joined, transferred, ended), stored as
    # a kind and its data (names, who ended it) and told in each viewer's language; its text is
    # empty. Database defaults: the message hot path inserts without naming these columns.
    event = models.CharField(max_length=16, blank=True, default="", db_default="")
    event_data = models.JSONField(null=True, blank=True)
    # Chosen by the client so that a resend after a lost acknowledgement stores nothing twice.
    client_msg_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_msg_id"],
                condition=~models.Q(client_msg_id=""),
                name="message_client_id_unique_per_conversation",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("text"), 4000), name="message_text_max_4000"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sender} message {self.pk}"


class VisitorConnection(models.Model):
    """The visitor's connection and device data, recorded when a conversation starts or resumes."""

    #: What tells one connection from the next: a resume with all of these unchanged stores none.
    DEVICE_FIELDS = ("ip_address", "user_agent", "browser", "os", "device_type", "screen")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="connections"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    device_type = models.CharField(max_length=16, blank=True)
    language = models.CharField(max_length=35, blank=True)
    screen = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("visitor connection")
        verbose_name_plural = _("visitor connections")
        ordering = ["id"]


class PageVisit(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="page_visits"
    )
    url = models.CharField(max_length=2048)
    title = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=2048, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("page visit")
        verbose_name_plural = _("page visits")
        ordering = ["id"]


class HostContext(models.Model):
    """Data passed by the customer's web service (the host page), as JSON."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="host_contexts"
    )
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("host page context")
        verbose_name_plural = _("host page contexts")
        ordering = ["id"]
        constraints = [
            # The serialised document is bounded in the database too, not only in the service.
            models.CheckConstraint(
                condition=LessThanOrEqual(Length(Cast("data", models.TextField())), 4096),
                name="host_context_max_4096",
            ),
        ]


class OpeningHours(models.Model):
    """Customer-service hours shown by the widget when no agent is online."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    # Hours of one topic; without a topic, the service's general hours (topics with no hours
    # of their own show those).
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="opening_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes__gt=models.F("opens")), name="opening_hours_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class Greeting(models.Model):
    """The panel's greeting in one language, edited by the service director in admin.

    Shown when the panel opens; nothing about the visitor is stored until they write.
    """

    class Language(models.TextChoices):
        FI = "fi", "suomi"
        SV = "sv", "svenska"
        EN = "en", "English"

    language = models.CharField(max_length=2, choices=Language.choices, unique=True)
    text = models.CharField(max_length=300, help_text="e.g. Hei! Miten voimme auttaa?")
    # Staff names shown to anyone who opens the panel: the director decides.
    show_agent_names = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Also show the names of the agents online when the panel opens.",
    )

    class Meta:
        verbose_name = _("greeting")
        verbose_name_plural = _("greetings")
        ordering = ["language"]

    def __str__(self) -> str:
        return self.get_language_display()


class ControllerDetails(models.Model):
    """The privacy notice's controller and contacts (one row, edited in admin)."""

    register_name = models.CharField(max_length=200, default="Chat register")
    controller_name = models.CharField(max_length=200, default="")
    business_id = models.CharField(max_length=20, blank=True)
    address = models.CharField(max_length=300, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    email = models.EmailField(blank=True)
    responsible_person = models.CharField(
        max_length=200,
        blank=True,
        help_text="Reviews access rights and makes sure users are trained.",
    )
    register_contact = models.CharField(
        max_length=200,
        blank=True,
        help_text="Puts access rights into effect and informs data subjects of their rights.",
    )
    # Linked from the privacy notice: http(s) only, also for rows written outside the admin form.
    website = models.URLField(blank=True, validators=[validate_http_url])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("controller details")
        verbose_name_plural = _("controller details")
        constraints = [http_url_constraint("website", name="controller_website_http")]

    def __str__(self) -> str:
        return self.controller_name or "Controller details"

    @classmethod
    def current(cls) -> ControllerDetails:
        return cls.objects.order_by("id").first() or cls()


class AuditEvent(models.Model):
    """Append-only record of who did what. Never message text or a visitor's IP address."""

    class Action(models.TextChoices):
        LOGIN = "login", _("Login")
        LOGOUT = "logout", _("Logout")
        LOGIN_FAILED = "login_failed", _("Failed login")
        TRANSCRIPT_OPENED = "transcript_opened", _("Transcript opened")
        CHAT_MONITORED = "chat_monitored", _("Live chat monitored")
        SEARCH = "search", _("Search performed")
        EXPORT = "export", _("Data exported")
        ERASURE = "erasure", _("Data erased")
        ROLE_GRANTED = "role_granted", _("Role granted")
        ROLE_REVOKED = "role_revoked", _("Role revoked")
        SETTINGS_CHANGED = "settings_changed", _("Settings changed")
        PURGE_RUN = "purge_run", _("Retention purge run")
        GUIDANCE_ACKNOWLEDGED = "guidance_ack", _("Guidance acknowledged")
        SECOND_FACTOR_ENROLLED = "2fa_enrolled", _("Second factor set up")
        SECOND_FACTOR_RESET = "2fa_reset", _("Second factor reset")
        RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used")
        SIGNED_OUT_EVERYWHERE = "signed_out_everywhere", _("Signed out everywhere")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept when the account is deleted, so the log still says who it was.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=24, choices=Action.choices, db_index=True)
    object_ref = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    actor_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"


class RetentionRun(models.Model):
    """One run of the retention purge: what it deleted, how long it took, whether it finished."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cutoff = models.DateTimeField()
    dry_run = models.BooleanField(default=False)
    succeeded = models.BooleanField(default=False)
    deleted = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"purge {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
