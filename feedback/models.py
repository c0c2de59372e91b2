"""Quick feedback (pikapalaute) and the anonymous aggregates that outlive it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

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
        ordering = ["-created_at"]
        permissions = [("view_reports", "Can view satisfaction and service reports")]
        verbose_name_plural = "feedback"
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
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)
