"""A local SMTP server for the tests: ``aiosmtpd`` on a free port of 127.0.0.1, in a thread,
keeping every message it receives (what a patient would find in their inbox)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from ketaplan.settings import SmtpSettings


@dataclass
class Inbox:
    """What the server received, and the settings that reach it."""

    settings: SmtpSettings
    messages: list[EmailMessage] = field(default_factory=list)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} e-mails arrived"
        return self.messages


class _Keep:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.inbox.messages.append(parsed)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_server() -> Iterator[Inbox]:
    """A running local SMTP server (no TLS, no sign-in) and its inbox; stopped after."""
    port = _free_port()
    inbox = Inbox(
        SmtpSettings(host="127.0.0.1", port=port, sender="clinic@bay.example", starttls=False)
    )
    controller = Controller(_Keep(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
