"""Quick feedback (pikapalaute) and the anonymous aggregates that outlive it."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chat.models import Conversation

COMMENT_MAX_CHARS = 500


class Feedback(models.Model):
    """One visitor's answers about one conversation; deleted with the register after 3 months."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="feedback"
    )
    service_satisfied = models.BooleanField(null=True, blank=True)
    channel_satisfied = models.BooleanField(null=True, blank=True)
    comment = models.CharField(max_length=COMMENT_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("quick feedback answer")
        verbose_name_plural = _("quick feedback answers")
        ordering = ["-created_at"]
        permissions = [("view_reports", "Can view satisfaction and service reports")]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("comment"), COMMENT_MAX_CHARS),
                name="feedback_comment_max_500",
            ),
        ]

    def __str__(self) -> str:
        return f"feedback {self.pk}"


class DailyStat(models.Model):
    """Counts and duration histograms per day and agent; no visitor can be identified from them.

    Durations are kept only as counts per fixed bucket (see `feedback.aggregates.BUCKET_EDGES`),
    so medians and percentiles can be combined across days without keeping any single chat.
    """

    day = models.DateField(db_index=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The agent's name when the day was folded, so the history survives the account's removal.
    agent_name = models.CharField(max_length=150, blank=True)
    chats = models.PositiveIntegerField(default=0)
    taken = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    wait_hist = models.JSONField(default=list, blank=True)
    first_response_hist = models.JSONField(default=list, blank=True)
    duration_hist = models.JSONField(default=list, blank=True)
    feedback_answers = models.PositiveIntegerField(default=0)
    service_yes = models.PositiveIntegerField(default=0)
    service_no = models.PositiveIntegerField(default=0)
    channel_yes = models.PositiveIntegerField(default=0)
    channel_no = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("daily statistic")
        verbose_name_plural = _("daily statistics")
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "agent"], name="daily_stat_day_agent_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.agent_name or '-'}"


class FoldedDay(models.Model):
    """A day whose chats are counted in DailyStat; reports read it from there, never live."""

    day = models.DateField(unique=True)
    folded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("day counted in statistics")
        verbose_name_plural = _("days counted in statistics")
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)


ACCESSIBILITY_MESSAGE_MAX_CHARS = 2000
#: The law (laki digitaalisten palvelujen tarjoamisesta) gives the provider 14 days to answer.
ACCESSIBILITY_ANSWER_DAYS = 14


class AccessibilityFeedback(models.Model):
    """Feedback on accessibility from the statement's form (/accessibility/): not part of the
    chat register, linked to no conversation. Holds only what the sender wrote, the language of
    the page they wrote on, and when; the service director answers it within 14 days."""

    message = models.TextField()
    #: Given by the sender when they want an answer; nothing else identifies them.
    reply_email = models.EmailField(blank=True)
    language = models.CharField(max_length=2)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("accessibility feedback")
        verbose_name_plural = _("accessibility feedback")
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("message"), ACCESSIBILITY_MESSAGE_MAX_CHARS),
                name="accessibility_feedback_message_max",
            ),
        ]

    def __str__(self) -> str:
        return f"accessibility feedback {self.pk}"

    @property
    def due_at(self):
        return self.received_at + timedelta(days=ACCESSIBILITY_ANSWER_DAYS)
