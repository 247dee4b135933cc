"""A patient's bookings as the front desk works on them: each course's appointments with their
chairs, the signed orders still waiting for a course, and the days a booster is suggested.

No clinical fact is in it (:mod:`ketaplan.services.visibility`): a signed order is named by its
number and the day it was signed, never by its protocol or dose; a booster suggestion by its
days, never by its trigger or the scores behind it. One audited read (``booking.list``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.boosters import booster_plan
from ketaplan.services.chart_replays import replay_course
from ketaplan.services.clinic_policy import clinic_chairs, clinic_chart_rules, clinic_policy
from ketaplan.services.orders import order_states
from ketaplan.services.patients import find_patient
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import CourseBooking, InfusionPlan, InfusionSession, TreatmentCourse

MAX_COURSES = 20


@dataclass(frozen=True, slots=True)
class BookedSession:
    number: int
    booster: bool
    """A booster booked from a recommendation; else one of the series."""
    start: datetime
    end: datetime | None
    chair: int | None
    opened: bool
    """Opened in the chair: it can no longer be moved or cancelled."""


@dataclass(frozen=True, slots=True)
class CourseBookings:
    course_id: int
    version: int
    first_day: date
    cancelled: bool
    sessions: tuple[BookedSession, ...]
    booster_days: tuple[tuple[date, ...], ...]
    """Each suggested booster's day(s), soonest first; empty for a cancelled course."""


@dataclass(frozen=True, slots=True)
class OrderToBook:
    plan_id: int
    signed_at: datetime | None


@dataclass(frozen=True, slots=True)
class PatientBookings:
    patient_id: int
    full_name: str
    courses: tuple[CourseBookings, ...]
    orders_to_book: tuple[OrderToBook, ...]
    chairs: int
    session_times: tuple[time, ...]
    zone: ZoneInfo


def _orders_to_book(uow: UnitOfWork, patient_id: int) -> tuple[OrderToBook, ...]:
    """Signed orders with no active course yet."""
    plan_ids = list(
        uow.db.scalars(select(InfusionPlan.id).where(InfusionPlan.patient_id == patient_id))
    )
    booked = set(
        uow.db.scalars(
            select(TreatmentCourse.plan_id).where(
                TreatmentCourse.patient_id == patient_id, TreatmentCourse.cancelled_at.is_(None)
            )
        )
    )
    states = order_states(uow, plan_ids)
    return tuple(
        OrderToBook(plan_id, state.signed_at)
        for plan_id, state in sorted(states.items(), reverse=True)
        if state.status == "active" and plan_id not in booked
    )


def patient_bookings(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, policy: ClinicPolicy
) -> PatientBookings:
    """The patient's bookings, orders to book and booster days; audited with the courses."""
    with uow.reading():
        patient = find_patient(uow, patient_id, actor)
        calendar = clinic_policy(uow, actor, policy).calendar
        courses = list(
            uow.db.scalars(
                select(TreatmentCourse)
                .where(TreatmentCourse.patient_id == patient_id)
                .order_by(TreatmentCourse.id.desc())
                .limit(MAX_COURSES)
            )
        )
        ids = [c.id for c in courses]
        bookings: dict[int, list[CourseBooking]] = {i: [] for i in ids}
        for booking in uow.db.scalars(
            select(CourseBooking)
            .where(CourseBooking.course_id.in_(ids))
            .order_by(CourseBooking.number)
        ):
            bookings[booking.course_id].append(booking)
        opened = {
            (course_id, number)
            for course_id, number in uow.db.execute(
                select(InfusionSession.course_id, InfusionSession.number).where(
                    InfusionSession.course_id.in_(ids)
                )
            )
        }
        shown = []
        for course in courses:
            days: tuple[tuple[date, ...], ...] = ()
            if course.cancelled_at is None:
                rules = clinic_chart_rules(uow, actor, policy.monitoring)
                charts = replay_course(uow, course, rules, policy)
                _ends, plan = booster_plan(uow, course, charts, actor, policy)
                days = tuple(r.dates for r in plan.recommendations)
            shown.append(
                CourseBookings(
                    course.id,
                    course.version,
                    course.first_day,
                    course.cancelled_at is not None,
                    tuple(
                        BookedSession(
                            b.number,
                            bool(b.booster),
                            b.start_at,
                            b.end_at,
                            b.chair,
                            (course.id, b.number) in opened,
                        )
                        for b in bookings[course.id]
                    ),
                    days,
                )
            )
        result = PatientBookings(
            patient.id,
            patient.full_name,
            tuple(shown),
            _orders_to_book(uow, patient_id),
            clinic_chairs(uow, actor, policy.catalog),
            calendar.session_times,
            calendar.zone,
        )
        uow.audit(
            actor,
            AuditAction.BOOKING_LIST,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"course_ids": ids},
        )
        uow.commit()
        return result
