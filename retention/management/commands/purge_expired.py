"""`python manage.py purge_expired [--dry-run]`: the scheduled retention purge, run by hand."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from retention import purge as retention


class Command(BaseCommand):
    help = "Deletes every record of the chat register older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="fixed rows per batch (default adaptive)"
        )

    def handle(self, *args, dry_run: bool = False, batch_size: int | None = None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            outcome = retention.purge_expired(dry_run=dry_run, batch_size=batch_size)
        except Exception as exc:
            raise CommandError(f"purge failed: {type(exc).__name__}: {exc}") from exc
        if outcome.status == "skipped":
            self.stdout.write("skipped, already running")
            return
        verb = "would delete" if dry_run else "deleted"
        if outcome.cutoff is not None:
            self.stdout.write(f"cutoff {outcome.cutoff.isoformat()}")
        if not outcome.deleted:
            self.stdout.write(f"{verb} nothing")
        for label, count in sorted(outcome.deleted.items()):
            self.stdout.write(f"{verb} {count} {label}")
        if not dry_run:
            self.stdout.write(
                f"{outcome.total} rows in {outcome.batches} batches, "
                f"longest transaction {outcome.longest_transaction_ms} ms"
            )
