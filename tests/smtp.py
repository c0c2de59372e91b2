"""A real SMTP server on localhost for tests (aiosmtpd), with Django's SMTP backend aimed at it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from email import message_from_bytes

from aiosmtpd.controller import Controller

from tests.addresses import free_port


class Inbox:
    """aiosmtpd's handler: keeps every message the server accepts as (recipients, message)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


def use_smtp(settings, port: int) -> None:
    """Django's e-mail goes over SMTP to 127.0.0.1:`port` (the test runner's default is memory)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port


@contextlib.contextmanager
def smtp_server(settings) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    use_smtp(settings, port)
    try:
        yield inbox
    finally:
        controller.stop()


def body_of(message) -> str:
    return message.get_payload(decode=True).decode(message.get_content_charset())
