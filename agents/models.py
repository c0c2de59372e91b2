"""Customer-service staff: their console profile, presence, guidance and access grants."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Raise when the guidance text changes materially: every agent must acknowledge it again.
GUIDANCE_VERSION = 1


class AgentProfile(models.Model):
    class Presence(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="fi")
    presence = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.OFFLINE, db_index=True
    )
    # Refreshed by the console's heartbeat; a stale "online" counts as offline.
    presence_seen_at = models.DateTimeField(default=timezone.now)
    guidance_acknowledged_at = models.DateTimeField(null=True, blank=True)
    guidance_version = models.PositiveSmallIntegerField(default=0)
    last_console_activity_at = models.DateTimeField(null=True, blank=True)
    # The presence the agent last chose; a new login starts with it (not with "offline").
    chosen_presence = models.CharField(
        max_length=8,
        choices=Presence.choices,
        default=Presence.OFFLINE,
        db_default=Presence.OFFLINE,
    )
    # Concurrent chats routing may give the agent (set by the service director).
    capacity = models.PositiveSmallIntegerField(default=3, db_default=3)
    # When the agent last received a chat: routing's tie-break (longest since the last chat).
    last_chat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")
        permissions = [
            ("use_console", "Can use the agent console"),
            ("view_floor", "Can see the floor view and monitor live chats"),
            ("review_access", "Can review and revoke access to chats"),
        ]

    def __str__(self) -> str:
        return f"profile of {self.user}"


class AccessGrant(models.Model):
    """A chat role given or taken away: who approved it, who put it into effect, when."""

    class Change(models.TextChoices):
        GRANTED = "granted", _("Granted")
        REVOKED = "revoked", _("Revoked")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_grants"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE)
    change = models.CharField(max_length=8, choices=Change.choices)
    approved_by = models.CharField(
        max_length=200, blank=True, help_text="The responsible person who approved the change."
    )
    effected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        ordering = ["-created_at"]


class CannedReply(models.Model):
    title = models.CharField(max_length=100)
    shortcut = models.SlugField(max_length=30, help_text="Typed after '/' in the console.")
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="fi")
    text = models.TextField(max_length=4000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["language", "shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["shortcut", "language"], name="canned_reply_shortcut_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} ({self.language})"


class SignInIdentity(models.Model):
    """A staff account's identity at the single sign-on provider (issuer + subject).

    Linked on the first sign-on that matched the account by its e-mail address, or by a director
    beforehand; never a source of roles.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signin_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in identity")
        verbose_name_plural = _("sign-in identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="signin_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.subject}"
