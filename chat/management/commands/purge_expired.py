from django.core.management.base import BaseCommand

from chat import retention


class Command(BaseCommand):
    help = "Deletes every record of the chat register older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, dry_run: bool = False, **options):
        run = retention.purge_expired(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for label, count in run.deleted.items():
            self.stdout.write(f"{verb} {count} {label}")
        self.stdout.write(f"cutoff {run.cutoff.isoformat()}")
