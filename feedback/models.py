"""Quick feedback (pikapalaute) and the anonymous aggregates that outlive it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from chat.models import Conversation


class Feedback(models.Model):
    """One visitor's answers about one conversation; deleted with the register after 3 months."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="feedback"
    )
    service_satisfied = models.BooleanField(null=True, blank=True)
    channel_satisfied = models.BooleanField(null=True, blank=True)
    comment = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_reports", "Can view satisfaction and service reports")]


class DailyStat(models.Model):
    """Counts and durations per day and agent: no visitor can be identified from them."""

    day = models.DateField(db_index=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    chats = models.PositiveIntegerField(default=0)
    wait_seconds_total = models.PositiveBigIntegerField(default=0)
    first_response_seconds_total = models.PositiveBigIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    duration_seconds_total = models.PositiveBigIntegerField(default=0)
    feedback_answers = models.PositiveIntegerField(default=0)
    service_yes = models.PositiveIntegerField(default=0)
    service_no = models.PositiveIntegerField(default=0)
    channel_yes = models.PositiveIntegerField(default=0)
    channel_no = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "agent"], name="daily_stat_day_agent_unique"),
            models.UniqueConstraint(
                fields=["day"], condition=models.Q(agent=None), name="daily_stat_day_unassigned"
            ),
        ]
