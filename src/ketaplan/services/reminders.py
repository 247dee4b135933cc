"""Appointment reminders: an e-mail the day before each booked session.

A reminder is queued in the outbox (:mod:`ketaplan.services.outbox`) by the sender's run on the
day before the booking (in the clinic's time zone), from the course's bookings as they stand
then, not when the course was booked: a reminder written at booking time would go stale with
every reschedule or cancellation, and would have to be found and withdrawn. The reminder and
its audit event are written together in that run's transaction, so the cause of a reminder is
"this booking is tomorrow", checked when it is true. ``dedupe_key`` (the course, the session's
number and its start) queues each booking's reminder once however often the sender runs; a
booking moved to another time gets a reminder for its new time.

Only patients with an address get one (:func:`ketaplan.services.outbox.patient_email`). The
text names the clinic, the day and the time: no protocol (a diagnosis), no dose.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ketaplan.services.outbox import SENDER, add_message, patient_email
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic, CourseBooking, OutboxMessage


def reminder_body(clinic_name: str, start: datetime) -> str:
    """The reminder's text: the clinic, the day and the local time.

    >>> from datetime import datetime
    >>> print(reminder_body("Bay Clinic", datetime(2026, 12, 9, 9, 30)).splitlines()[2])
    This is a reminder of your appointment at Bay Clinic on Wednesday 09 Dec 2026 at 09:30.
    """
    return (
        "Hello,\n\n"
        f"This is a reminder of your appointment at {clinic_name} on "
        f"{start.strftime('%A %d %b %Y')} at {start.strftime('%H:%M')}.\n\n"
        "If you cannot come, please call the clinic.\n"
    )


def dedupe_key(booking: CourseBooking) -> str:
    return f"reminder:{booking.course_id}:{booking.number}:{booking.start_at.isoformat()}"


def queue_appointment_reminders(uow: UnitOfWork) -> int:
    """Queue a reminder for every booking tomorrow (each clinic's zone) not reminded yet; how
    many were queued. Another sender queueing the same ones at once makes this one queue none."""
    try:
        with uow:
            now = uow.clock()
            queued = 0
            for clinic in uow.db.scalars(select(Clinic).order_by(Clinic.id)):
                zone = ZoneInfo(clinic.time_zone)
                tomorrow = now.astimezone(zone).date() + timedelta(days=1)
                start = datetime.combine(tomorrow, time(), zone)
                bookings = uow.db.scalars(
                    select(CourseBooking)
                    .where(
                        CourseBooking.clinic_id == clinic.id,
                        CourseBooking.start_at >= start,
                        CourseBooking.start_at < start + timedelta(days=1),
                    )
                    .order_by(CourseBooking.start_at, CourseBooking.id)
                )
                for booking in list(bookings):
                    key = dedupe_key(booking)
                    done = uow.db.scalar(
                        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)
                    )
                    address = patient_email(uow, booking.patient_id)
                    if done is not None or address is None:
                        continue
                    add_message(
                        uow,
                        clinic_id=clinic.id,
                        patient_id=booking.patient_id,
                        kind="appointment_reminder",
                        to_address=address,
                        subject=f"Your appointment at {clinic.name} tomorrow",
                        body=reminder_body(clinic.name, booking.start_at.astimezone(zone)),
                        actor=SENDER,
                        dedupe_key=key,
                    )
                    queued += 1
            if queued:
                uow.commit()
            return queued
    except IntegrityError:
        return 0
