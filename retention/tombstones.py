"""Erasure tombstones: what must stay erased after a backup is restored.

A restored database's own audit log is as old as the backup, so it cannot say which of the
restored conversations were erased since. Each erasure therefore also leaves a tombstone outside
the database: one JSON line in `CHAT_TOMBSTONE_DIR/erasures.jsonl` with the conversation's
reference, the time of the erasure and the request's identifier, never anything that was erased.
It is appended after the erasure commits (a rolled back erasure leaves none) and fsynced.

`manage.py replay_erasures` reads them after a restore and erases again every restored
conversation they list. A backup older than the rotation (`CHAT_BACKUP_ROTATION_DAYS`) no longer
exists, so neither does a tombstone older than it: the retention purge prunes those.

In production the folder must be on storage that is not restored with the database (a separate
volume), or a restore would bring back the old tombstones along with the old data.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

logger = logging.getLogger(__name__)

FILENAME = "erasures.jsonl"
LOCK_FILENAME = "erasures.lock"


def tombstone_path() -> Path:
    return Path(settings.CHAT_TOMBSTONE_DIR) / FILENAME


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked() -> Iterator[Path]:
    """The tombstone file's path, with an exclusive lock held (appends and pruning exclude
    each other, also across processes)."""
    folder = Path(settings.CHAT_TOMBSTONE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILENAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder / FILENAME
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            # A line cut short by a crash mid-append: the rest of the file is still good.
            logger.warning("erasure tombstones: skipped an unreadable line")
            continue
        if isinstance(entry, dict) and entry.get("reference") and entry.get("erased_at"):
            entries.append(entry)
    return entries


def _erased_at(entry: dict[str, Any]) -> datetime | None:
    moment = parse_datetime(str(entry.get("erased_at", "")))
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


def tombstones() -> list[dict[str, str]]:
    """Every tombstone kept, oldest first: reference, erased_at (ISO, UTC), request_id."""
    with _locked() as path:
        return _read(path)


def tombstone_record(*, reference: str, erased_at: datetime, request_id: str) -> None:
    """Appends one tombstone and fsyncs it; an identical one already kept is not repeated (a
    replayed erasure keeps the original time)."""
    entry = {
        "reference": reference,
        "erased_at": erased_at.astimezone(UTC).isoformat(),
        "request_id": request_id,
    }
    with _locked() as path:
        created = not path.exists()
        if not created and any(
            e["reference"] == entry["reference"] and e["erased_at"] == entry["erased_at"]
            for e in _read(path)
        ):
            return
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
        if not created and not path.read_bytes().endswith(b"\n") and path.stat().st_size:
            # The last append was cut short (a crash): end that line so this one stays whole.
            line = "\n" + line
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(path.parent)


def tombstone_record_on_commit(*, reference: str, erased_at: datetime, request_id: str) -> None:
    """Records the tombstone once the current transaction commits (none if it rolls back).

    A failure to write it does not undo the committed erasure; it is logged as an error (the
    audit log still has the erasure: `manage.py visitor_data erasures` can export it)."""
    from django.db import transaction

    def write() -> None:
        try:
            tombstone_record(reference=reference, erased_at=erased_at, request_id=request_id)
        except OSError as exc:
            logger.error("erasure tombstone could not be written: %s", type(exc).__name__)

    transaction.on_commit(write)


def tombstones_prune(now: datetime | None = None) -> int:
    """Drops the tombstones older than the backup rotation; returns how many were dropped."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CHAT_BACKUP_ROTATION_DAYS)
    with _locked() as path:
        if not path.exists():
            return 0
        entries = _read(path)
        kept = [e for e in entries if (_erased_at(e) or now) >= cutoff]
        dropped = len(entries) - len(kept)
        if not dropped:
            return 0
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            for entry in kept:
                out.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
        _fsync_dir(path.parent)
        return dropped
