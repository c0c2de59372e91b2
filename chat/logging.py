"""Logging helpers: one record is always one line, so log lines cannot be forged."""

from __future__ import annotations

import logging


class OneLineFilter(logging.Filter):
    """Escapes CR/LF in the rendered message so user input cannot start a fake log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
            record.args = None
        return True
