"""Logging helpers: one record is always one line, so log lines cannot be forged, and lines
about what clients send never carry a chat reference and cannot flood the log."""

from __future__ import annotations

import logging
import os
import re
import time
import traceback

# A conversation reference (chat.models.new_reference, e.g. 7KQ2M-X9D4T) in a logged path or
# message; it identifies a chat, so it is personal data and stays out of the logs (Django's CSRF
# and 404 warnings log paths). Spelled out, not imported: logging is configured before the apps'
# models can be imported.
_REFERENCE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Z]{5}-[0-9A-Z]{5}(?![0-9A-Za-z])")


class OneLineFilter(logging.Filter):
    """Escapes CR/LF in the rendered message so user input cannot start a fake log line, and
    replaces conversation references with `[reference]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _REFERENCE.sub("[reference]", message)
        if "\n" in cleaned or "\r" in cleaned:
            cleaned = cleaned.replace("\r", "\\r").replace("\n", "\\n")
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def where(exc: BaseException) -> str:
    """`ValueError at chat/services.py:120`: where an exception came from, without its message
    (which may quote a client's input) and without a multi-line traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    path = os.path.relpath(last.filename) if os.path.isabs(last.filename) else last.filename
    return f"{type(exc).__name__} at {path}:{last.lineno}"


class Throttled:
    """At most `per_minute` lines of each kind per process; the rest are counted and reported
    in one line when the next minute's first line of any kind is written.

    For what clients cause (refused frames, errors they trigger): a client sending bad frames
    on purpose must not be able to fill the disk or hide other lines.
    """

    def __init__(self, logger: logging.Logger, per_minute: int = 10) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self.minute = -1
        self.counts: dict[str, int] = {}
        self.suppressed = 0

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        minute = int(time.monotonic() // 60)
        if minute != self.minute:
            if self.suppressed:
                self.logger.warning(
                    "%d similar line(s) not logged in the last minute", self.suppressed
                )
            self.minute = minute
            self.counts.clear()
            self.suppressed = 0
        count = self.counts[kind] = self.counts.get(kind, 0) + 1
        if count <= self.per_minute:
            self.logger.log(level, message, *args)
        else:
            self.suppressed += 1
