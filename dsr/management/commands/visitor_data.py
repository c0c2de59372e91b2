"""Data-subject requests from the command line: find, export, erase (and replay erasures).

    manage.py visitor_data find --reference ABCDE-12345 | --ip 203.0.113.7 | --since 2026-05-01
    manage.py visitor_data export --reference R --request-id DSR-2026-014 [--format text]
    manage.py visitor_data erase --reference R --request-id DSR-2026-014 [--yes]
    manage.py visitor_data erasures [--since DATE] [--output F]
    manage.py visitor_data replay-erasures --input F [--yes]

Every action is audited like its console counterpart, with "manage.py" as the actor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsr import data_requests as dsr

ACTOR = "manage.py"


class Command(BaseCommand):
    help = "Find, export and erase a visitor's data for a data-subject request (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        find = sub.add_parser("find", help="list conversations matching every criterion given")
        find.add_argument("--reference", default="")
        find.add_argument("--ip", default="")
        find.add_argument("--since", default="", help="ISO date or time: active after")
        find.add_argument("--until", default="", help="ISO date or time: started before")
        find.add_argument("--text", default="", help="words the visitor wrote")

        export = sub.add_parser("export", help="everything stored about one conversation")
        export.add_argument("--reference", required=True)
        export.add_argument("--request-id", required=True, dest="request_id")
        export.add_argument("--format", choices=sorted(dsr.EXPORT_FORMATS), default="json")
        export.add_argument("--output", default="", help="file to write (default: stdout)")

        erase = sub.add_parser("erase", help="delete one conversation and every row about it")
        erase.add_argument("--reference", required=True)
        erase.add_argument("--request-id", required=True, dest="request_id")
        erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")

        log = sub.add_parser("erasures", help="the erasure log, to keep beside the backups")
        log.add_argument("--since", default="")
        log.add_argument("--output", default="")

        replay = sub.add_parser("replay-erasures", help="after a restore, erase again")
        replay.add_argument("--input", required=True, help="output of `erasures` (JSON)")
        replay.add_argument("--yes", action="store_true")

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, "do_" + action.replace("-", "_"))(**options)
        except dsr.DataRequestError as exc:
            raise CommandError(str(exc)) from None

    # --- actions ----------------------------------------------------------------------------

    def do_find(self, *, reference, ip, since, until, text, **_) -> None:
        criteria = dsr.Criteria.build(
            reference=reference, ip=ip, since=since or None, until=until or None, text=text
        )
        found = dsr.visitor_data_search(criteria=criteria, actor_name=ACTOR)
        for c in found:
            ended = c.closed_at.isoformat(timespec="minutes") if c.closed_at else "-"
            self.stdout.write(
                f"{c.reference}  started {c.created_at.isoformat(timespec='minutes')}  "
                f"last {c.last_activity_at.isoformat(timespec='minutes')}  ended {ended}  "
                f"{c.status}"
            )
        self.stderr.write(f"{len(found)} conversation(s)")

    def do_export(self, *, reference, request_id, format, output, **_) -> None:
        conversation = self._conversation(reference)
        result = dsr.visitor_data_export(
            conversation=conversation, request_id=request_id, fmt=format, actor_name=ACTOR
        )
        self._write(result.content, output)
        if output:
            self.stderr.write(f"wrote {output}")

    def do_erase(self, *, reference, request_id, yes, **_) -> None:
        conversation = self._conversation(reference)
        request_id = dsr.clean_request_id(request_id)
        self._confirm(yes, f"Erase conversation {conversation.reference} for good?")
        deleted = dsr.visitor_data_erase(
            conversation=conversation, request_id=request_id, actor_name=ACTOR
        )
        for label, count in deleted.items():
            self.stdout.write(f"deleted {count} {label}")
        self.stdout.write(f"erased {conversation.reference}")

    def do_erasures(self, *, since, output, **_) -> None:
        log = dsr.erasure_log(since=dsr.parse_moment(since) if since else None)
        self._write(json.dumps(log, ensure_ascii=False, indent=2) + "\n", output)

    def do_replay_erasures(self, *, input, yes, **_) -> None:
        try:
            entries = json.loads(Path(input).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {input}: {exc}") from None
        if not isinstance(entries, list):
            raise CommandError("expected a JSON list, as written by `visitor_data erasures`")
        self._confirm(yes, f"Erase again the conversations of {len(entries)} erasure(s)?")
        erased = dsr.visitor_data_replay_erasures(entries=entries, actor_name=ACTOR)
        for reference in erased:
            self.stdout.write(f"erased {reference}")
        self.stdout.write(f"{len(erased)} of {len(entries)} were present and are now erased")

    # --- helpers ----------------------------------------------------------------------------

    def _conversation(self, reference: str):
        dsr.normalise_reference(reference)
        conversation = dsr.conversation_by_reference(reference)
        if conversation is None:
            raise CommandError(f"no conversation with reference {reference}")
        return conversation

    def _confirm(self, yes: bool, question: str) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise CommandError("not confirmed: pass --yes when not running interactively")
        if input(f"{question} Type 'yes': ").strip().lower() != "yes":
            raise CommandError("not confirmed; nothing was erased")

    def _write(self, content: str, output: str) -> None:
        if output:
            Path(output).write_text(content, encoding="utf-8")
        else:
            self.stdout.write(content, ending="")
