"""The purge runs on its own: Celery beat schedules it and a worker executes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.conf import settings

import retention.tasks
from chat.models import AuditEvent, Conversation, RetentionRun, hash_token, new_visitor_token
from chat.retention_period import retention_cutoff


def test_the_beat_schedule_runs_the_purge_at_least_every_15_minutes():
    from helao_chat.celery import app

    entries = [
        e for e in app.conf.beat_schedule.values() if e["task"] == "chat.tasks.purge_expired"
    ]
    assert len(entries) == 1
    schedule = entries[0]["schedule"]
    assert timedelta(seconds=1) <= schedule <= timedelta(minutes=15)
    assert schedule == timedelta(seconds=settings.CHAT_PURGE_INTERVAL_SECONDS)
    assert "chat.tasks.purge_expired" in app.tasks


def test_the_task_survives_a_lost_worker_and_has_time_limits():
    task = retention.tasks.purge_expired
    assert task.acks_late and task.reject_on_worker_lost
    assert 0 < task.soft_time_limit < task.time_limit


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_PURGE_INTERVAL_SECONDS", "901"),  # the promise is at least every 15 minutes
        ("CHAT_PURGE_WORKERS", "0"),
        ("CHAT_PURGE_WORKERS", "9"),
    ],
)
def test_settings_refuse_a_purge_out_of_range(name, value):
    env = {**os.environ, name: value}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "helao_chat.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert name in result.stderr


@pytest.fixture
def worker_app():
    """A Celery app configured like the project's, on an in-process broker of its own.

    Not the project's broker: a worker here must never take tasks meant for another process.
    """
    from celery import current_app

    previous = current_app._get_current_object()
    app = Celery("helao-chat-test")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url="memory://",
        broker_transport_options={},
        result_backend="cache+memory://",
        task_ignore_result=False,
    )
    yield app
    previous.set_current()


@pytest.mark.django_db(transaction=True)
def test_a_worker_executes_the_scheduled_purge(worker_app):
    expired_at = retention_cutoff() - timedelta(minutes=1)
    Conversation.objects.create(
        token_hash=hash_token(new_visitor_token()),
        created_at=expired_at,
        last_activity_at=expired_at,
    )
    entry = worker_app.conf.beat_schedule["purge-expired"]
    with start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        # Sent by name, the way beat sends it.
        worker_app.send_task(entry["task"], **entry.get("options", {}))
        deadline = time.monotonic() + 60
        while not RetentionRun.objects.filter(finished_at__isnull=False).exists():
            assert time.monotonic() < deadline, "the worker never ran the purge"
            time.sleep(0.1)
    run = RetentionRun.objects.get()
    assert run.succeeded
    assert run.deleted == {"chat.conversation": 1}
    assert not Conversation.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PURGE_RUN).count() == 1
