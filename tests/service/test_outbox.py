"""The outbox (issue 18 item 6): a link's e-mail is written with the link or not at all, sent
over SMTP to a local aiosmtpd server, retried with backoff, failed for good after its attempts;
reminders of tomorrow's bookings are queued once; every step is in the audit trail."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import InputError
from ketaplan.mail import DeliveryError, OutgoingMail, SmtpMailer
from ketaplan.services import Actor, PatientRecord, UnitOfWork, schedule_course
from ketaplan.services.outbox import (
    MAX_ATTEMPTS,
    email_patient_link,
    patient_messages,
    send_due_messages,
)
from ketaplan.services.patient_links import open_patient_link
from ketaplan.services.reminders import queue_appointment_reminders
from ketaplan.settings import SmtpSettings
from ketaplan.store import Database, verify_audit_chain
from ketaplan.store.models import Base, OutboxMessage, PatientLink

from .conftest import CrashingUnitOfWork, signed_plan
from .smtp_capture import smtp_server

NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 10:00 on Tuesday 8 December in the clinic
PUBLIC_URL = "https://ketaplan.bay.example"
ADDRESS = "alex@example.org"


class SenderKilled(BaseException):
    """The sender's process ended mid-send (a kill, a power cut): nothing catches it."""


class Clock:
    """The units of work's clock, moved on by the test (retries are minutes apart)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _message(database: Database, message_id: int) -> OutboxMessage:
    with database.session_factory() as session:
        return session.get_one(OutboxMessage, message_id)


def _verify(database: Database) -> None:
    with database.session_factory() as session:
        checked = verify_audit_chain(session)
    assert checked.ok, checked


def _email(uow: UnitOfWork, patient: PatientRecord, nurse: Actor, address: str = ADDRESS) -> int:
    emailed = email_patient_link(
        uow,
        patient.patient_id,
        scales=["phq9"],
        to_address=address,
        public_url=PUBLIC_URL,
        actor=nurse,
    )
    return emailed.message_id


def test_a_link_e_mailed_reaches_the_smtp_server_with_a_neutral_text_and_opens_the_form(
    database: Database, uow: UnitOfWork, patient: PatientRecord, nurse: Actor
) -> None:
    message_id = _email(uow, patient, nurse)
    assert _message(database, message_id).status == "queued"
    with smtp_server() as inbox:
        report = send_due_messages(uow, SmtpMailer(inbox.settings))
        (mail,) = inbox.wait_for(1)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    assert mail["To"] == ADDRESS
    assert mail["From"] == "clinic@bay.example"
    body = mail.get_content()
    url = re.search(rf"{re.escape(PUBLIC_URL)}/q/(\S+)", body)
    assert url is not None, body
    # Nothing clinical and not even the patient's name: a neutral text and the link.
    for word in ("Alex", "Example", "PHQ", "depress", "ketamine", "80"):
        assert word not in body, word
        assert word not in mail["Subject"], word
    assert open_patient_link(uow, url.group(1), origin="test").first_name == "Alex"
    sent = _message(database, message_id)
    assert (sent.status, sent.attempts, sent.sent_at) == ("sent", 1, NOW)
    assert sent.link_url is None  # the database no longer holds a link that opens the form
    assert patient_messages(uow, patient.patient_id, actor=nurse).email == ADDRESS
    _verify(database)


def test_a_failed_write_leaves_neither_the_link_nor_its_message(
    database: Database,
    patient: PatientRecord,
    nurse: Actor,
    rows: Callable[[type[Base]], int],
    audit_rows_at_crash: list[int],
) -> None:
    crashing = CrashingUnitOfWork(database, audit_rows_at_crash)
    with pytest.raises(RuntimeError, match="simulated failure"):
        _email(crashing, patient, nurse)
    assert audit_rows_at_crash, "the crash came after the writes"
    assert (rows(PatientLink), rows(OutboxMessage)) == (0, 0)


@pytest.mark.parametrize("address", ["", "alex", "alex@localhost", "a b@example.org"])
def test_a_wrong_address_is_refused_and_nothing_is_written(
    uow: UnitOfWork,
    patient: PatientRecord,
    nurse: Actor,
    rows: Callable[[type[Base]], int],
    address: str,
) -> None:
    with pytest.raises(InputError) as refused:
        _email(uow, patient, nurse, address)
    assert refused.value.fields["field"] == "email"
    assert (rows(PatientLink), rows(OutboxMessage)) == (0, 0)


def test_the_front_desk_cannot_e_mail_a_questionnaire_link(
    uow: UnitOfWork, patient: PatientRecord, front_desk: Actor, rows: Callable[[type[Base]], int]
) -> None:
    with pytest.raises(Exception, match="clinical facts"):
        _email(uow, patient, front_desk)
    assert rows(OutboxMessage) == 0


def test_a_failing_server_is_retried_with_backoff_then_the_message_fails_for_good(
    database: Database, uow: UnitOfWork, patient: PatientRecord, nurse: Actor, clock: Clock
) -> None:
    message_id = _email(uow, patient, nurse)
    tries: list[OutgoingMail] = []

    def refusing(mail: OutgoingMail) -> None:
        tries.append(mail)
        raise DeliveryError("SMTP error: (421, b'try again later')")

    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = send_due_messages(uow, refusing)
        row = _message(database, message_id)
        assert row.attempts == attempt
        assert row.last_error == "SMTP error: (421, b'try again later')"
        if attempt < MAX_ATTEMPTS:
            assert (report.retrying, row.status) == (1, "queued")
            waits.append(row.next_attempt_at - clock.now)
            # Not due again before its time.
            assert send_due_messages(uow, refusing).retrying == 0
            clock.now = row.next_attempt_at
        else:
            assert (report.failed, row.status, row.link_url) == (1, "failed", None)
    assert waits == [timedelta(minutes=5 * 2**n) for n in range(MAX_ATTEMPTS - 1)]
    assert len(tries) == MAX_ATTEMPTS
    clock.now += timedelta(days=1)
    assert send_due_messages(uow, refusing).failed == 0  # failed for good: not tried again
    shown = patient_messages(uow, patient.patient_id, actor=nurse).messages[0]
    assert (shown.status, shown.attempts, shown.max_attempts) == ("failed", 6, 6)
    assert shown.last_error is not None
    assert "421" in shown.last_error
    _verify(database)


def test_a_sender_that_dies_mid_send_leaves_the_message_to_be_retried_after_its_lease(
    database: Database, uow: UnitOfWork, patient: PatientRecord, nurse: Actor, clock: Clock
) -> None:
    message_id = _email(uow, patient, nurse)

    def dying(mail: OutgoingMail) -> None:
        raise SenderKilled

    with pytest.raises(SenderKilled):
        send_due_messages(uow, dying)
    claimed = _message(database, message_id)
    assert (claimed.status, claimed.attempts) == ("queued", 1)
    assert send_due_messages(uow, dying).sent == 0  # still leased: nobody takes it
    clock.now = claimed.next_attempt_at
    with smtp_server() as inbox:
        assert send_due_messages(uow, SmtpMailer(inbox.settings)).sent == 1
        inbox.wait_for(1)
    assert _message(database, message_id).attempts == 2


def test_a_server_that_cannot_be_reached_or_lacks_starttls_is_a_delivery_error() -> None:
    with smtp_server() as inbox:
        port = inbox.settings.port
        with pytest.raises(DeliveryError, match="STARTTLS"):
            SmtpMailer(
                SmtpSettings(host="127.0.0.1", port=port, sender="c@bay.example", starttls=True)
            )(OutgoingMail(ADDRESS, "s", "b"))
    # The server is stopped now: nothing listens on its port.
    with pytest.raises(DeliveryError, match="could not reach"):
        SmtpMailer(
            SmtpSettings(host="127.0.0.1", port=port, sender="c@bay.example", starttls=False),
            timeout_s=2,
        )(OutgoingMail(ADDRESS, "s", "b"))


def test_a_reminder_is_queued_once_the_day_before_a_booking_and_names_no_treatment(
    database: Database,
    uow: UnitOfWork,
    patient: PatientRecord,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: object,
    policy: ClinicPolicy,
) -> None:
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 9),  # tomorrow in the clinic
        actor=nurse,
        policy=policy,
    )
    assert queue_appointment_reminders(uow) == 0  # no address known for the patient yet
    _email(uow, patient, nurse)
    assert queue_appointment_reminders(uow) == 1
    assert queue_appointment_reminders(uow) == 0  # once per booking, however often it runs
    with database.session_factory() as session:
        reminder = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "appointment_reminder")
        ).one()
    assert reminder.to_address == ADDRESS
    assert "Wednesday 09 Dec 2026" in reminder.body
    for word in ("depress", "ketamine", "infusion", "Alex"):
        assert word not in reminder.body, word
        assert word not in reminder.subject, word
    with smtp_server() as inbox:
        assert send_due_messages(uow, SmtpMailer(inbox.settings)).sent == 2
        subjects = sorted(str(m["Subject"]) for m in inbox.wait_for(2))
    assert subjects[1].startswith("Your appointment at")
    _verify(database)
