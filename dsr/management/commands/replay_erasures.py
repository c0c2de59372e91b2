"""`python manage.py replay_erasures`: after restoring a backup, make the forgotten stay forgotten.

Reads the erasure tombstones (retention/tombstones.py, kept outside the database), erases again
every restored conversation they list (a later conversation that drew the same reference is
kept: only one created before the erasure goes), then runs the retention purge, which removes
what expired since the backup was taken. Prints counts only. Idempotent: a second run erases
nothing more.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dsr import data_requests as dsr
from retention import purge as retention
from retention.tombstones import tombstone_path, tombstones

ACTOR = "manage.py replay_erasures"


class Command(BaseCommand):
    help = "After a restore: erase again what was erased since the backup, then purge."

    def handle(self, *args, **options) -> None:
        entries = tombstones()
        self.stdout.write(f"{len(entries)} tombstone(s) in {tombstone_path()}")
        erased = dsr.visitor_data_replay_erasures(entries=entries, actor_name=ACTOR)
        self.stdout.write(f"erased again {len(erased)} restored conversation(s)")
        try:
            outcome = retention.purge_expired()
        except Exception as exc:
            raise CommandError(f"purge failed: {type(exc).__name__}: {exc}") from exc
        if outcome.status == "skipped":
            raise CommandError("purge skipped: another purge is running; run this again after it")
        self.stdout.write(f"purged {outcome.total} expired row(s)")
        self.stdout.write(f"pruned {outcome.tombstones_pruned} tombstone(s) past the rotation")
