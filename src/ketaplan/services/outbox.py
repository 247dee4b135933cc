"""E-mails to patients through an outbox: written with what caused them, sent afterwards.

A message is a row of ``outbox_message`` added in the same transaction as its cause (the
questionnaire link it carries, :func:`email_patient_link`; a reminder of tomorrow's booking,
:mod:`ketaplan.services.reminders`), so a link that was not saved is never mailed and a saved
link is never lost for want of a mail server. The sender (:func:`send_due_messages`, run by
``ketaplan outbox send``) delivers them:

1. it *claims* the messages due (queued, ``next_attempt_at`` passed) in one short transaction:
   each claim counts an attempt and pushes ``next_attempt_at`` one lease ahead, so a second
   sender running at the same time (on PostgreSQL it also skips locked rows) leaves them
   alone, and a sender that dies mid-send is retried after the lease;
2. it talks to the mail server outside any transaction (no database lock waits on SMTP);
3. it records each outcome in a transaction of its own: ``sent``; or the error, with the next
   try after an exponential backoff (:func:`retry_delay`); or ``failed`` for good after
   :data:`MAX_ATTEMPTS`.

Every step is audited; the patient page shows each message's delivery (:func:`list_outbox`).
Bodies are neutral text and a link: no diagnosis, score or dose leaves by e-mail. A link's
address is kept in ``link_url`` only until the message is settled, so that a copy of the database
taken later opens no link (the link table keeps only the token's hash).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ketaplan.errors import InputError, InputProblems
from ketaplan.mail import DeliveryError, OutgoingMail
from ketaplan.services.actors import Actor, Visitor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.patient_links import (
    DEFAULT_LIFETIME,
    LinkCreated,
    add_patient_link,
    link_scale_keys,
)
from ketaplan.services.patients import find_patient
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import Clinic, OutboxMessage

MAX_ATTEMPTS = 6
"""Tries before a message is marked failed for good (about 2.5 hours of retries)."""
FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=6)
LEASE = timedelta(minutes=10)
"""How long a claimed message is left to its sender before another may try it again."""
BATCH = 50
"""Messages one sender run claims at most (a run every minute clears a clinic's day)."""
MAX_ERROR_CHARS = 500
LINK_MARK = "[link]"
"""Where the link goes in a stored body; filled in only when the message is sent."""
SENDER = Visitor("outbox-sender")
"""Who the audit trail names for the sender's steps: no member of staff acts."""
MAX_ADDRESS_LENGTH = 254
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(r"[^@\s\"<>(),;:\[\]\\]+@" + _LABEL + r"(?:\." + _LABEL + r")+")


def retry_delay(attempts: int) -> timedelta:
    """How long after the ``attempts``-th failed try the next one is due: 5 minutes, doubling,
    at most 6 hours.

    >>> [str(retry_delay(n)) for n in (1, 2, 3, 5)]
    ['0:05:00', '0:10:00', '0:20:00', '1:20:00']
    """
    delay: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(delay, MAX_RETRY)


def checked_address(text: str) -> str:
    """An e-mail address as typed, trimmed and checked (one ``@``, a domain with a dot).

    >>> checked_address("  ana@example.org ")
    'ana@example.org'
    """
    address = text.strip()
    if not address:
        raise InputError(
            "give the patient's e-mail address", code="input.missing", fields={"field": "email"}
        )
    if len(address) > MAX_ADDRESS_LENGTH or not _ADDRESS.fullmatch(address):
        raise InputError(
            f"{address[:80]!r} is not an e-mail address; give one like name@example.org",
            code="input.invalid_email",
            fields={"field": "email"},
        )
    return address


def patient_email(uow: UnitOfWork, patient_id: int) -> str | None:
    """The address the patient's e-mails go to, read inside an open unit of work.

    Today the patient record has no e-mail field: the address is the one the clinician last
    typed when e-mailing this patient (the newest outbox message). When the record gains its
    contacts, this reads them instead; callers do not change."""
    return uow.db.scalar(
        select(OutboxMessage.to_address)
        .where(OutboxMessage.patient_id == patient_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )


def add_message(
    uow: UnitOfWork,
    *,
    clinic_id: int,
    patient_id: int,
    kind: str,
    to_address: str,
    subject: str,
    body: str,
    actor: Actor | Visitor,
    link_url: str | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Queue one message in the open unit of work, with its audit event (no commit)."""
    now = uow.clock()
    row = OutboxMessage(
        clinic_id=clinic_id,
        patient_id=patient_id,
        kind=kind,
        to_address=checked_address(to_address),
        subject=subject,
        body=body,
        link_url=link_url,
        dedupe_key=dedupe_key,
        status="queued",
        attempts=0,
        last_error=None,
        next_attempt_at=now,
        created_at=now,
        created_by=actor.user_id,
        sent_at=None,
    )
    uow.db.add(row)
    uow.db.flush()
    uow.audit(
        actor,
        AuditAction.OUTBOX_QUEUE,
        "outbox_message",
        row.id,
        patient_id=patient_id,
        details={"kind": kind, "to_address": row.to_address},
    )
    return row


@dataclass(frozen=True, slots=True)
class EmailedLink:
    """A link made and its e-mail queued, in one transaction."""

    link: LinkCreated
    url: str
    message_id: int
    to_address: str
    status: str
    """The message's delivery: ``queued`` when made (the sender sends it afterwards)."""
    scales: tuple[str, ...]
    """The scales the link asks, as their keys."""


def link_body(clinic_name: str, expires_at: datetime) -> str:
    """The questionnaire e-mail: who asks, the link, until when. Nothing clinical."""
    return (
        "Hello,\n\n"
        f"{clinic_name} asks you to answer a short questionnaire before your next visit. "
        "Open this link on your phone or computer:\n\n"
        f"{LINK_MARK}\n\n"
        f"The link is for you only and works until {expires_at.strftime('%d %b %Y')}. "
        "If you did not expect this e-mail, you can ignore it.\n"
    )


def email_patient_link(
    uow: UnitOfWork,
    patient_id: int,
    *,
    scales: list[str],
    to_address: str,
    public_url: str,
    actor: Actor,
    expires_in: timedelta = DEFAULT_LIFETIME,
) -> EmailedLink:
    """Make a questionnaire link and queue its e-mail in the same transaction: both or neither.

    ``public_url`` is where patients reach the server (the settings', never a request's Host)."""
    require_clinical_facts(actor, "a questionnaire link")
    problems = InputProblems()  # both fields' refusals at once, before anything is written
    address = problems.check(checked_address, to_address)
    keys = problems.check(link_scale_keys, scales)
    problems.raise_any()
    assert address is not None
    assert keys is not None
    with uow:
        link = add_patient_link(uow, patient_id, scales=keys, actor=actor, expires_in=expires_in)
        url = f"{public_url}/q/{link.token}"
        clinic = uow.db.get_one(Clinic, actor.clinic_id)
        row = add_message(
            uow,
            clinic_id=actor.clinic_id,
            patient_id=patient_id,
            kind="questionnaire_link",
            to_address=address,
            subject=f"A questionnaire from {clinic.name}",
            body=link_body(clinic.name, link.expires_at),
            actor=actor,
            link_url=url,
        )
        uow.commit()
        return EmailedLink(link, url, row.id, address, row.status, tuple(keys))


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one sender run did."""

    sent: int
    retrying: int
    failed: int


def _claim(uow: UnitOfWork, limit: int) -> list[tuple[int, OutgoingMail]]:
    """Claim the due messages (see the module docstring, step 1)."""
    with uow:
        now = uow.clock()
        rows = list(
            uow.db.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return []
        claimed = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            body = row.body.replace(LINK_MARK, row.link_url or "")
            claimed.append((row.id, OutgoingMail(row.to_address, row.subject, body)))
            uow.audit(
                SENDER,
                AuditAction.OUTBOX_CLAIM,
                "outbox_message",
                row.id,
                patient_id=row.patient_id,
                details={"attempt": row.attempts},
            )
        uow.commit()
        return claimed


def _settle(uow: UnitOfWork, message_id: int, error: str | None) -> str:
    """Record one attempt's outcome; the message's status after it."""
    with uow:
        row = uow.db.get_one(OutboxMessage, message_id, with_for_update=True)
        now = uow.clock()
        if error is None:
            row.status, row.sent_at, row.link_url, row.last_error = "sent", now, None, None
            action = AuditAction.OUTBOX_SENT
        else:
            row.last_error = error[:MAX_ERROR_CHARS]
            if row.attempts >= MAX_ATTEMPTS:
                row.status, row.link_url = "failed", None
            else:
                row.next_attempt_at = now + retry_delay(row.attempts)
            action = AuditAction.OUTBOX_FAILED
        uow.audit(
            SENDER,
            action,
            "outbox_message",
            row.id,
            patient_id=row.patient_id,
            details={
                "kind": row.kind,
                "to_address": row.to_address,
                "attempt": row.attempts,
                "status": row.status,
                **({"error": row.last_error} if error is not None else {}),
            },
        )
        uow.commit()
        return row.status


def send_due_messages(
    uow: UnitOfWork, send: Callable[[OutgoingMail], None], *, limit: int = BATCH
) -> SendReport:
    """Send the messages due now through ``send`` (an :class:`ketaplan.mail.SmtpMailer`)."""
    counts = {"sent": 0, "queued": 0, "failed": 0}
    for message_id, mail in _claim(uow, limit):
        try:
            send(mail)
        except DeliveryError as failed:
            status = _settle(uow, message_id, str(failed) or type(failed).__name__)
        else:
            status = _settle(uow, message_id, None)
        counts[status] += 1
    return SendReport(counts["sent"], counts["queued"], counts["failed"])


@dataclass(frozen=True, slots=True)
class OutboxView:
    """One message's delivery, as the patient page shows it."""

    message_id: int
    kind: str
    to_address: str
    subject: str
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    """When the next try is due (None once sent or failed for good)."""
    created_at: datetime
    sent_at: datetime | None


MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class PatientMessages:
    """The patient's newest e-mails with their delivery, and the address to offer next."""

    email: str | None
    messages: tuple[OutboxView, ...]


def _view(row: OutboxMessage) -> OutboxView:
    return OutboxView(
        row.id,
        row.kind,
        row.to_address,
        row.subject,
        row.status,
        row.attempts,
        MAX_ATTEMPTS,
        row.last_error,
        row.next_attempt_at if row.status == "queued" else None,
        row.created_at,
        row.sent_at,
    )


def load_patient_messages(uow: UnitOfWork, patient_id: int) -> PatientMessages:
    """The patient's newest e-mails and :func:`patient_email`, read in the open unit of work
    (the caller checks the role and the patient, and audits)."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.patient_id == patient_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(MAX_LISTED)
    )
    messages = tuple(_view(row) for row in uow.db.scalars(statement))
    return PatientMessages(patient_email(uow, patient_id), messages)


def patient_messages(uow: UnitOfWork, patient_id: int, *, actor: Actor) -> PatientMessages:
    """The patient's newest e-mails and their delivery, and :func:`patient_email`; one audited
    read naming the messages shown."""
    require_clinical_facts(actor, "a patient's e-mails")
    with uow.reading():
        find_patient(uow, patient_id, actor)
        found = load_patient_messages(uow, patient_id)
        uow.audit(
            actor,
            AuditAction.OUTBOX_LIST,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"message_ids": [m.message_id for m in found.messages]},
        )
        uow.commit()
        return found


def list_patient_messages(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, window: Window
) -> Listed[OutboxView]:
    """A page of the patient's e-mails with their delivery, newest first, and how many there
    are; one audited read naming the messages on the page (as :func:`patient_messages`)."""
    require_clinical_facts(actor, "a patient's e-mails")
    mine = OutboxMessage.patient_id == patient_id

    def page(chosen: Window) -> list[OutboxView]:
        statement = (
            select(OutboxMessage)
            .where(mine)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .offset(chosen.offset)
            .limit(chosen.limit)
        )
        return [_view(row) for row in uow.db.scalars(statement)]

    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.OUTBOX_LIST,
        ids_key="message_ids",
        load=page,
        count=lambda: (
            uow.db.scalar(select(func.count()).select_from(OutboxMessage).where(mine)) or 0
        ),
        id_of=lambda message: message.message_id,
        window=window,
    )
