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
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import sees_clinical_facts
from ketaplan.store.models import (
    CourseBooking,
    InfusionSession,
    Item9PositiveAnswer,
    Item9Review,
    Patient,
    QuestionnaireResponse,
    TreatmentCourse,
)

T = TypeVar("T")

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


def _name(patient_id: InstrumentedAttribute[int]) -> ScalarSelect[str]:
    """The patient's current name, looked up by key for the row that names the patient."""
    return select(Patient.full_name).where(Patient.id == patient_id).scalar_subquery()


def _course(
    column: InstrumentedAttribute[T], course_id: InstrumentedAttribute[int]
) -> ScalarSelect[T]:
    """A column of the course, looked up by key for the row that names the course."""
    return select(column).where(TreatmentCourse.id == course_id).scalar_subquery()


def clinic_dashboard(uow: UnitOfWork, *, actor: Actor, zone: ZoneInfo) -> Dashboard:
    """Today in the clinic's zone; shown patients are recorded in the audit event.

    Three reads, each driven by an index range bounded by what it shows (a day's bookings, the
    bookings of the reassessment window, a fortnight's PHQ-9 answers), never by what the
    clinic has ever recorded; no statement's parameters grow with the clinic. Each row's
    patient name, course and session are looked up by key as correlated subqueries, not
    joined: a join leaves the planner free to hash the whole patient and course tables (which
    PostgreSQL did, its cost estimate of a few hundred key lookups being higher than of one
    pass over every row: exponent 0.17 from 200 to 20,000 patients), and a subquery in the
    select list is run per row, by key, on both databases. A role that does not see clinical
    facts gets no protocols and no flags (the PHQ-9 answers are not even read)."""
    clinical = sees_clinical_facts(actor)
    with uow.reading():
        now = uow.clock()
        today = now.astimezone(zone).date()
        day_start = datetime.combine(today, time(), zone)
        session_id = (
            select(InfusionSession.id)
            .where(
                InfusionSession.course_id == CourseBooking.course_id,
                InfusionSession.number == CourseBooking.number,
            )
            .order_by(InfusionSession.id.desc())  # one session a booking; the newest
            .limit(1)
            .scalar_subquery()
        )
        bookings = select(
            CourseBooking.patient_id,
            _name(CourseBooking.patient_id),
            CourseBooking.course_id,
            _course(TreatmentCourse.protocol_key, CourseBooking.course_id),
            CourseBooking.number,
            CourseBooking.start_at,
            session_id,
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
        # bookings over the window (not every course of the clinic, filtered by its last day),
        # each kept if it is its course's last booking of the series (a booster is not) and
        # its course was not cancelled. A cancelled course keeps its past bookings, so its
        # last one left looks like a series' end; but its series was not given to the end (or,
        # cancelled after it, its boosters went with it), and no booster can be booked on it.
        later = aliased(CourseBooking)
        last_number = (
            select(func.max(later.number))
            .where(later.course_id == CourseBooking.course_id, later.booster.is_(None))
            .scalar_subquery()
        )
        last_day = _course(TreatmentCourse.last_day, CourseBooking.course_id).label("last_day")
        last_bookings = (
            select(
                CourseBooking.patient_id,
                _name(CourseBooking.patient_id),
                CourseBooking.course_id,
                _course(TreatmentCourse.protocol_key, CourseBooking.course_id),
                last_day,
            )
            .where(
                CourseBooking.clinic_id == actor.clinic_id,
                CourseBooking.start_at >= datetime.combine(today - REASSESS_WINDOW, time(), zone),
                CourseBooking.start_at < day_start,
                CourseBooking.booster.is_(None),
                CourseBooking.number == last_number,
                _course(TreatmentCourse.cancelled_at, CourseBooking.course_id).is_(None),
            )
            .order_by(last_day, CourseBooking.course_id)
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
    (:mod:`ketaplan.services.item9_reviews`), newest first: an index range of the clinic's own
    such answers (``item9_positive_answer``, kept with each response), each answer's name,
    total and review looked up by key (a join or ``NOT EXISTS`` would let the planner hash
    every patient or review). Read from the responses by scale and time, the range held every
    clinic's PHQ-9 answers of the fortnight, so it grew with the clinics in the database."""
    answer = Item9PositiveAnswer
    total = (
        select(QuestionnaireResponse.total)
        .where(QuestionnaireResponse.id == answer.response_id)
        .scalar_subquery()
    )
    review = select(Item9Review.id).where(Item9Review.response_id == answer.response_id)
    return [
        ItemNineFlag(*row)
        for row in uow.db.execute(
            select(
                answer.patient_id,
                _name(answer.patient_id),
                answer.response_id,
                total,
                answer.answered_at,
            )
            .where(
                answer.clinic_id == actor.clinic_id,
                answer.answered_at >= now - FLAG_WINDOW,
                review.scalar_subquery().is_(None),
            )
            .order_by(answer.answered_at.desc())
        )
    ]
