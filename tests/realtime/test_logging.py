from __future__ import annotations

import logging

from realtime.logging import OneLineFilter


def _render(message: str, *args) -> str:
    record = logging.LogRecord("chat", logging.WARNING, __file__, 1, message, args, None)
    OneLineFilter().filter(record)
    return logging.Formatter("%(levelname)s %(message)s").format(record)


def test_a_newline_in_logged_input_cannot_start_a_fake_log_line():
    line = _render("refused frame type %s", "x\n2026-01-01 INFO admin logged in\r")
    assert "\n" not in line and "\r" not in line
    assert line == "WARNING refused frame type x\\n2026-01-01 INFO admin logged in\\r"


def test_ordinary_messages_are_left_alone():
    assert _render("purge deleted %d rows", 5) == "WARNING purge deleted 5 rows"
