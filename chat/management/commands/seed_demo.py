"""Demo accounts and, optionally, many backdated conversations (for benchmarks and retention).

The accounts are the console's: the app that owns them creates them (`demo_accounts` hook).
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from chat import hooks
from chat.models import (
    Conversation,
    HostContext,
    Message,
    OpeningHours,
    PageVisit,
    Tag,
    VisitorConnection,
    WrapUpReason,
    hash_token,
    new_visitor_token,
)

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
]


class Command(BaseCommand):
    help = "Creates the demo accounts and optionally many backdated conversations."

    def add_arguments(self, parser):
        parser.add_argument("--conversations", type=int, default=0, help="how many to create")
        parser.add_argument(
            "--days", type=int, default=30, help="spread them over this many past days"
        )
        parser.add_argument("--messages", type=int, default=6, help="messages per conversation")
        parser.add_argument("--no-accounts", action="store_true", help="skip the demo accounts")

    def handle(self, *args, conversations: int, days: int, messages: int, no_accounts: bool, **kw):
        if not no_accounts:
            hooks.call("demo_accounts", write=self.stdout.write)
            self._opening_hours()
            self._wrap_up_lists()
        if conversations:
            created = self._conversations(conversations, days, messages)
            self.stdout.write(f"created {created} conversations over {days} days")

    def _opening_hours(self) -> None:
        if OpeningHours.objects.exists():
            return
        from datetime import time

        OpeningHours.objects.bulk_create(
            OpeningHours(weekday=d, opens=time(9), closes=time(16)) for d in range(5)
        )

    def _wrap_up_lists(self) -> None:
        """A few tags and wrap-up reasons, so that ending a demo chat shows the wrap-up."""
        if not Tag.objects.exists():
            Tag.objects.bulk_create(
                Tag(name_fi=fi, name_sv=sv, name_en=en, position=i)
                for i, (fi, sv, en) in enumerate(
                    [
                        ("Kurssit", "Kurser", "Courses"),
                        ("Ilmoittautuminen", "Anmälan", "Enrolment"),
                        ("Maksut", "Avgifter", "Payments"),
                        ("Palaute", "Respons", "Feedback"),
                    ]
                )
            )
        if not WrapUpReason.objects.exists():
            WrapUpReason.objects.bulk_create(
                WrapUpReason(name_fi=fi, name_sv=sv, name_en=en, position=i)
                for i, (fi, sv, en) in enumerate(
                    [
                        ("Vastattu", "Besvarad", "Answered"),
                        ("Ohjattu muualle", "Hänvisad vidare", "Referred elsewhere"),
                        ("Asiakas poistui", "Kunden lämnade", "Visitor left"),
                    ]
                )
            )

    def _conversations(self, count: int, days: int, per_conversation: int) -> int:
        rng = random.Random(count * 7919 + days)
        now = timezone.now()
        User = get_user_model()
        agent = User.objects.filter(username="agent").first()
        batch = 2000
        done = 0
        while done < count:
            n = min(batch, count - done)
            with transaction.atomic():
                convs = []
                for _ in range(n):
                    start = now - timedelta(seconds=rng.randint(0, days * 86400))
                    convs.append(
                        Conversation(
                            token_hash=hash_token(new_visitor_token()),
                            status=Conversation.Status.CLOSED,
                            assigned_agent=agent,
                            language=rng.choice(["fi", "sv", "en"]),
                            created_at=start,
                            claimed_at=start + timedelta(seconds=rng.randint(5, 300)),
                            last_activity_at=start + timedelta(minutes=10),
                            closed_at=start + timedelta(minutes=10),
                            closed_by=Conversation.ClosedBy.AGENT,
                        )
                    )
                Conversation.objects.bulk_create(convs, batch_size=1000)
                if not convs[0].pk:  # backends that do not return ids from bulk inserts
                    convs = list(Conversation.objects.order_by("-id")[:n])
                rows_m, rows_p, rows_c, rows_h = [], [], [], []
                for conv in convs:
                    start = conv.created_at
                    for i in range(per_conversation):
                        visitor = i % 2 == 0
                        rows_m.append(
                            Message(
                                conversation_id=conv.pk,
                                sender="visitor" if visitor else "agent",
                                agent=None if visitor else agent,
                                author_name="" if visitor else "Aino Asiakaspalvelija",
                                text=f"demo message {i}",
                                client_msg_id=f"demo-{i}",
                                created_at=start + timedelta(seconds=30 * i),
                            )
                        )
                    rows_p.append(
                        PageVisit(
                            conversation_id=conv.pk,
                            url="https://www.example.org/courses/",
                            title="Courses",
                            created_at=start,
                        )
                    )
                    rows_c.append(
                        VisitorConnection(
                            conversation_id=conv.pk,
                            ip_address=f"192.0.2.{rng.randint(1, 254)}",
                            user_agent=rng.choice(UAS),
                            browser="Chrome",
                            os="Windows",
                            device_type="desktop",
                            language=conv.language,
                            created_at=start,
                        )
                    )
                    rows_h.append(
                        HostContext(
                            conversation_id=conv.pk, data={"section": "demo"}, created_at=start
                        )
                    )
                Message.objects.bulk_create(rows_m, batch_size=5000)
                PageVisit.objects.bulk_create(rows_p, batch_size=5000)
                VisitorConnection.objects.bulk_create(rows_c, batch_size=5000)
                HostContext.objects.bulk_create(rows_h, batch_size=5000)
            done += n
        return done
