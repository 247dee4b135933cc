"""The clinic's day at a glance: today's chairs, series to reassess, PHQ-9 item 9 flags not yet
reviewed.

One read, audited with the patients it showed (``dashboard.read``). Everything shown is a
record's own data (a course's bookings and last day, a stored score's flags); the only rule here
is which records are "today" and "recent", in the clinic's time zone. The front desk's day has
the bookings only: no protocol (the diagnosis) and no item 9 flags
(:mod:`ketaplan.services.visibility`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import sees_clinical_facts
from ketaplan.store.models import (
    CourseBooking,
    InfusionSession,
    Item9Review,
    Patient,
    QuestionnaireResponse,
    TreatmentCourse,
)

FLAG_WINDOW = timedelta(days=14)
REASSESS_WINDOW = timedelta(days=42)
"""Series that ended within six weeks: the reassessment and maintenance-booster window (3-6
weeks after the series, seed 001)."""


@dataclass(frozen=True, slots=True)
class ChairBooking:
    patient_id: int
    patient_name: str
    course_id: int
    protocol_key: str | None
    """None for a role that does not see clinical facts."""
    number: int
    start: datetime
    session_id: int | None


@dataclass(frozen=True, slots=True)
class SeriesEnded:
    patient_id: int
    patient_name: str
    course_id: int
    protocol_key: str | None
    last_day: date


@dataclass(frozen=True, slots=True)
class ItemNineFlag:
    patient_id: int
    patient_name: str
    response_id: int
    total: int
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class Dashboard:
    day: date
    chairs: tuple[ChairBooking, ...]
    series_ended: tuple[SeriesEnded, ...]
    flags: tuple[ItemNineFlag, ...]


def clinic_dashboard(uow: UnitOfWork, *, actor: Actor, zone: ZoneInfo) -> Dashboard:
    """Today in the clinic's zone; shown patients are recorded in the audit event.

    Three indexed reads, each bounded by what it shows (a day's bookings, series that ended in
    the reassessment window, a fortnight's PHQ-9 answers), never by what the clinic has ever
    recorded; no statement's parameters grow with the clinic. A role that does not see
    clinical facts gets no protocols and no flags (the PHQ-9 answers are not even read)."""
    clinical = sees_clinical_facts(actor)
    with uow.reading():
        now = uow.clock()
        today = now.astimezone(zone).date()
        day_start = datetime.combine(today, time(), zone)
        bookings = (
            select(
                CourseBooking.patient_id,
                Patient.full_name,
                CourseBooking.course_id,
                TreatmentCourse.protocol_key,
                CourseBooking.number,
                CourseBooking.start_at,
                InfusionSession.id,
            )
            .join(TreatmentCourse, TreatmentCourse.id == CourseBooking.course_id)
            .join(Patient, Patient.id == CourseBooking.patient_id)
        ).outerjoin(
            InfusionSession,
            (InfusionSession.course_id == CourseBooking.course_id)
            & (InfusionSession.number == CourseBooking.number),
        )
        chairs = [
            ChairBooking(*row)
            for row in uow.db.execute(
                bookings.where(
                    CourseBooking.clinic_id == actor.clinic_id,
                    CourseBooking.start_at >= day_start,
                    CourseBooking.start_at < day_start + timedelta(days=1),
                ).order_by(CourseBooking.start_at, CourseBooking.id)
            )
        ]
        # A series ends on the day of its last booking: one indexed range of the clinic's
        # bookings over the window (not every course of the clinic, filtered by its last day).
        later = aliased(CourseBooking)
        last_bookings = (
            select(
                CourseBooking.patient_id,
                Patient.full_name,
                CourseBooking.course_id,
                TreatmentCourse.protocol_key,
                TreatmentCourse.last_day,
            )
            .join(TreatmentCourse, TreatmentCourse.id == CourseBooking.course_id)
            .join(Patient, Patient.id == CourseBooking.patient_id)
            .where(
                CourseBooking.clinic_id == actor.clinic_id,
                CourseBooking.start_at >= datetime.combine(today - REASSESS_WINDOW, time(), zone),
                CourseBooking.start_at < day_start,
                CourseBooking.booster.is_(None),
                ~exists().where(
                    later.course_id == CourseBooking.course_id,
                    later.number > CourseBooking.number,
                    later.booster.is_(None),
                ),
            )
            .order_by(TreatmentCourse.last_day, TreatmentCourse.id)
        )
        ended = [SeriesEnded(*row) for row in uow.db.execute(last_bookings)]
        flags = _item_nine_flags(uow, actor, now) if clinical else []
        if not clinical:
            chairs = [replace(c, protocol_key=None) for c in chairs]
            ended = [replace(e, protocol_key=None) for e in ended]
        shown = sorted(
            {c.patient_id for c in chairs}
            | {e.patient_id for e in ended}
            | {f.patient_id for f in flags}
        )
        uow.audit(
            actor,
            AuditAction.DASHBOARD_READ,
            "clinic",
            actor.clinic_id,
            details={"patient_ids": shown},
        )
        uow.commit()
        return Dashboard(today, tuple(chairs), tuple(ended), tuple(flags))


def _item_nine_flags(uow: UnitOfWork, actor: Actor, now: datetime) -> list[ItemNineFlag]:
    """The fortnight's PHQ-9 answers with item 9 above 0 that no clinician has reviewed yet
    (:mod:`ketaplan.services.item9_reviews`), newest first."""
    answers = select(
        QuestionnaireResponse.patient_id,
        Patient.full_name,
        QuestionnaireResponse.id,
        QuestionnaireResponse.total,
        QuestionnaireResponse.answered_at,
        QuestionnaireResponse.flags,
    ).join(Patient, Patient.id == QuestionnaireResponse.patient_id)
    return [
        ItemNineFlag(patient_id, name, response_id, total, answered_at)
        for patient_id, name, response_id, total, answered_at, answer_flags in (
            uow.db.execute(
                answers.where(
                    Patient.clinic_id == actor.clinic_id,
                    QuestionnaireResponse.scale == "phq9",
                    QuestionnaireResponse.answered_at >= now - FLAG_WINDOW,
                    ~exists().where(Item9Review.response_id == QuestionnaireResponse.id),
                ).order_by(QuestionnaireResponse.answered_at.desc())
            )
        )
        if "phq9.item9_positive" in answer_flags
    ]
