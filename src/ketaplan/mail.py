"""Sending one e-mail over SMTP (the outbox's transport), with the standard library's smtplib.

The outbox (:mod:`ketaplan.services.outbox`) takes any callable that sends an
:class:`OutgoingMail` and raises :class:`DeliveryError` when it could not: this module's
:class:`SmtpMailer` in production, a local ``aiosmtpd`` server in the tests (never a fake of
smtplib). Every failure smtplib or the network can raise becomes a ``DeliveryError`` carrying a
short reason, which the outbox stores on the message and shows on the patient page.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from ketaplan.settings import SmtpSettings

TIMEOUT_S = 30.0
"""How long one SMTP conversation may wait on the server before it counts as a failure."""


class DeliveryError(Exception):
    """The message did not reach the mail server; ``str()`` says why (kept on the outbox row)."""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One plain-text e-mail: neutral text, no clinical data."""

    to_address: str
    subject: str
    body: str


class SmtpMailer:
    """Sends through the configured server: STARTTLS when set, then sign-in when a user is set."""

    def __init__(self, settings: SmtpSettings, *, timeout_s: float = TIMEOUT_S) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    def __call__(self, mail: OutgoingMail) -> None:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = mail.to_address
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
        message.set_content(mail.body)
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=self._timeout_s) as smtp:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.user:
                    smtp.login(settings.user, settings.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:
            raise DeliveryError(f"the mail server refused the address: {refused}") from refused
        except smtplib.SMTPException as failed:
            raise DeliveryError(f"SMTP error: {failed}") from failed
        except (OSError, UnicodeError) as failed:
            raise DeliveryError(
                f"could not reach the mail server {settings.host}:{settings.port}: {failed}"
            ) from failed
